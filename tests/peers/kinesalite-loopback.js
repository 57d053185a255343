// kinesalite's CLI has no host option and binds every interface; the tests'
// rule is loopback only, so this starts the same server on 127.0.0.1.
// Usage: node kinesalite-loopback.js --port N [--createStreamMs N] [--deleteStreamMs N]
//        [--updateStreamMs N] [--shardLimit N]
'use strict';
const kinesalite = require('kinesalite');

const opts = {};
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const m = /^--(\w+)$/.exec(args[i]);
  if (!m || i + 1 >= args.length || !/^\d+$/.test(args[i + 1])) {
    console.error(`kinesalite-loopback: bad argument '${args[i]}' (expected --name <integer>)`);
    process.exit(2);
  }
  opts[m[1]] = Number(args[i + 1]);
}
if (!opts.port) {
  console.error('kinesalite-loopback: --port is required');
  process.exit(2);
}
const server = kinesalite(opts);
server.on('error', (err) => {
  console.error(`kinesalite-loopback: ${err.message}`);
  process.exit(1);
});
server.listen(opts.port, '127.0.0.1', () => {
  const a = server.address();
  console.log(`Listening at http://${a.address}:${a.port}`);
});
