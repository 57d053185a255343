// Small helpers for peers.sh, in Node because Node is already required for the peers.
//   node util.js ports N               print N distinct free TCP ports (space separated)
//   node util.js probe URL [CAFILE]    exit 0 once URL gives any HTTP answer; for a GET
//                                      of /healthcheck the answer must be 200
//   node util.js server-json KEY CERT  print kinesis-local's {"server":{"key","cert"}} JSON
'use strict';
const fs = require('fs');
const net = require('net');

const PROBE_TIMEOUT_MS = 2000;

function usage() {
  console.error('usage: util.js ports N | probe URL [CAFILE] | server-json KEY CERT');
  process.exit(2);
}

// Listening without a host binds the wildcard address (both IPv4 and IPv6), as
// kinesis-local does, so a port free here is free for every peer. All sockets are
// held open together so the ports are distinct, then released for the peers.
function ports(n) {
  if (!Number.isInteger(n) || n < 1 || n > 16) usage();
  const servers = [];
  let bound = 0;
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    servers.push(s);
    s.on('error', (err) => { console.error(`util.js ports: ${err.message}`); process.exit(1); });
    s.listen(0, () => {
      if (++bound < n) return;
      console.log(servers.map((x) => x.address().port).join(' '));
      servers.forEach((x) => x.close());
    });
  }
}

function probe(url, cafile) {
  const u = new URL(url);
  const mod = require(u.protocol === 'https:' ? 'https' : 'http');
  const health = u.pathname === '/healthcheck';
  const opts = { method: health ? 'GET' : 'POST', timeout: PROBE_TIMEOUT_MS };
  if (cafile) opts.ca = fs.readFileSync(cafile);
  const req = mod.request(u, opts, (res) => {
    res.resume();
    process.exit(!health || res.statusCode === 200 ? 0 : 1);
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => {
    // TLS failures are configuration errors, not "not up yet": say so.
    if (err.code && /CERT|SSL|TLS/.test(err.code)) console.error(`util.js probe: ${err.message}`);
    process.exit(1);
  });
  req.end(health ? undefined : '{}');
}

const [cmd, a, b] = process.argv.slice(2);
if (cmd === 'ports' && a) {
  ports(Number(a));
} else if (cmd === 'probe' && a) {
  probe(a, b);
} else if (cmd === 'server-json' && a && b) {
  const server = { key: fs.readFileSync(a, 'utf8'), cert: fs.readFileSync(b, 'utf8') };
  console.log(JSON.stringify({ server }));
} else {
  usage();
}
