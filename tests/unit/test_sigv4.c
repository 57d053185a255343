/*
 * SigV4 against the public AWS SigV4 test suite (awslabs/aws-c-auth,
 * tests/aws-signing-test-suite/v4/<case>/, Apache-2.0), plus edge cases and bad input.
 *
 * Each case's inputs come from the suite's request.txt and context.json (credentials
 * AKIDEXAMPLE, region us-east-1, service "service", 2015-08-30T12:36:00Z) and the
 * expected signature from its header-signed-request.txt. The expected canonical
 * request and string to sign were regenerated with botocore's SigV4Auth (for the
 * normalize=false cases: by the spec) and are confirmed by the official signature,
 * so a failure names the step that broke.
 * Not here: post-sts-header-after (the token is added after signing, which this
 * signer never does: it always signs the token), post-header-key-case and
 * post-vanilla-empty-query-value (not in the snapshot we read), get-vanilla-query
 * (the same request as get-vanilla).
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_test.h"
#include "sigv4.h"

#define SUITE_TIME ((time_t)1440938160) /* 2015-08-30T12:36:00Z */
#define SUITE_AMZ_DATE "20150830T123600Z"
#define STS(hash) "AWS4-HMAC-SHA256\n" SUITE_AMZ_DATE "\n20150830/us-east-1/service/aws4_request\n" hash
#define TOKEN_VANILLA "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
#define TOKEN_STS                                                                                  \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf" \
    "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7W" \
    "Z0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8F" \
    "DrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define MAX_CASE_HEADERS 6
#define BIG_BODY (100 * 1024)

typedef struct {
    const char *name, *method, *path, *query;
    int keep_path;
    const char *body, *token;
    kn_header_t headers[MAX_CASE_HEADERS];
    size_t nheaders;
    const char *creq, *sts, *sig;
} vector_t;

static const vector_t VECTORS[] = {
    {"get-vanilla", "GET", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "Param1=value1&Param2=value2\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"),
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-encoded", "GET", "/", "Param-3=Value3&Param=Value2&%E1%88%B4=Value1", 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "%E1%88%B4=Value1&Param=Value2&Param-3=Value3\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71"),
     "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
    {"get-vanilla-query-unreserved", "GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177"),
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-empty-query-key", "GET", "/", "Param1=value1", 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "Param1=value1\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab"),
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-utf8-query", "GET", "/", "\xe1""\x88""\xb4""=bar", 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "%E1%88%B4=bar\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"),
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-vanilla-with-session-token", "GET", "/", NULL, 0, NULL, TOKEN_VANILLA,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n"
         "\n"
         "host;x-amz-date;x-amz-security-token\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b"),
     "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
    {"get-utf8", "GET", "/\xe1""\x88""\xb4""", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/%E1%88%B4\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"),
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9"),
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-space-normalized", "GET", "/example space/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/example%20space/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"),
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-slash-normalized", "GET", "//", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-slashes-normalized", "GET", "//example//", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/example/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015"),
     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
    {"get-slash-dot-slash-normalized", "GET", "/./", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-slash-pointless-dot-normalized", "GET", "/./example", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/example\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702"),
     "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
    {"get-relative-normalized", "GET", "/example/..", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-relative-relative-normalized", "GET", "/example1/example2/../..", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-header-key-duplicate", "GET", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, 4,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "my-header1:value2,value2,value1\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;my-header1;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c"),
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    /* The suite's request folds one header over three lines; its parser yields three
     * My-Header1 fields, which is what a caller of this API passes. */
    {"get-header-value-multiline", "GET", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}, {"My-Header1", "value2"}, {"My-Header1", "value3"}}, 4,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "my-header1:value1,value2,value3\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;my-header1;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("b7b6cbfd8a0430b78891e986784da2630c8a135a8595cec25b26ea94f926ee55"),
     "ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790"},
    {"get-header-value-order", "GET", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}}, 5,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "my-header1:value4,value1,value3,value2\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;my-header1;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86"),
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"get-header-value-trim", "GET", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, 3,
         "GET\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "my-header1:value1\n"
         "my-header2:\"a b c\"\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;my-header1;my-header2;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-vanilla", "POST", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "POST\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-query", "POST", "/", "Param1=value1", 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "POST\n"
         "/\n"
         "Param1=value1\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"),
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-header-key-sort", "POST", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}}, 2,
         "POST\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "my-header1:value1\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;my-header1;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65"),
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case", "POST", "/", NULL, 0, NULL, NULL,
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}}, 2,
         "POST\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "my-header1:VALUE1\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;my-header1;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93"),
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-sts-header-before", "POST", "/", NULL, 0, NULL, TOKEN_STS,
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Security-Token", "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="}}, 2,
         "POST\n"
         "/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "x-amz-security-token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\n"
         "\n"
         "host;x-amz-date;x-amz-security-token\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"),
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
    {"post-x-www-form-urlencoded", "POST", "/", NULL, 0, "Param1=value1", NULL,
     {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}, {"x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}}, 4,
         "POST\n"
         "/\n"
         "\n"
         "content-length:13\n"
         "content-type:application/x-www-form-urlencoded\n"
         "host:example.amazonaws.com\n"
         "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     STS("b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb"),
     "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
    {"post-x-www-form-urlencoded-parameters", "POST", "/", NULL, 0, "Param1=value1", NULL,
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}, {"x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}}, 4,
         "POST\n"
         "/\n"
         "\n"
         "content-length:13\n"
         "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
         "host:example.amazonaws.com\n"
         "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     STS("a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d"),
     "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"},
    /* normalize=false in context.json: S3-style, the path is only encoded. */
    {"get-space-unnormalized", "GET", "/example space/", NULL, 1, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/example%20space/\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"),
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-slash-unnormalized", "GET", "//", NULL, 1, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "//\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("80cb39203d058af815de2b79250ff56e1b73eb9b4718c86556cdc6f150c5d209"),
     "c88bcd3d312d75078c0cd961d6deae3f4c754924b01669efcfcb439fd5e5b76e"},
    {"get-slashes-unnormalized", "GET", "//example//", NULL, 1, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "//example//\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("528ec3105ee1f34ab014bb0a1a45da0ed2742a4fea3555149e5b4d5d201eb240"),
     "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"},
    {"get-slash-dot-slash-unnormalized", "GET", "/./", NULL, 1, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/./\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("d67825e2268bd77a97c7688b8d72c31a3c1855b309808505ba0a9747d2465aa7"),
     "68714168e6557f8f2de0ef956fc24dc2593a4bd2961f8df51898d8a134695145"},
    {"get-slash-pointless-dot-unnormalized", "GET", "/./example", NULL, 1, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/./example\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("73895e0e829507e28e39fd24669aedc2434a8e179e547e3c075b42921f952cdb"),
     "beb03f223f7deae4146464f06e29eebbee9c8afbe15c290cf07aa8b119e14cff"},
    {"get-relative-unnormalized", "GET", "/example/..", NULL, 1, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/example/..\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("0511f456aa502b456d135fcb9d749374a55228f9dbeedda1eacf659e05b0615b"),
     "eca7ead57bb5aa5c8e28007acd4ff04e1ff9a0ff3b237ec1554a184887ff9282"},
    {"get-relative-relative-unnormalized", "GET", "/example1/example2/../..", NULL, 1, NULL, NULL,
     {{"Host", "example.amazonaws.com"}}, 1,
         "GET\n"
         "/example1/example2/../..\n"
         "\n"
         "host:example.amazonaws.com\n"
         "x-amz-date:20150830T123600Z\n"
         "\n"
         "host;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     STS("76115030c0f3ff06c20fdff5ceb6d5e0b835a1743e00b94fea7c7f381269437b"),
     "dc33e0856fd4baca4d7aa2146c38958283844764f38c74252a333df5e613003b"},
};
#define NVECTORS (sizeof(VECTORS) / sizeof(VECTORS[0]))

/* Credentials the tests own (the struct has char * fields). */
typedef struct {
    char akid[32], secret[64], token[512];
    kn_credentials_t c;
} test_creds_t;

static const kn_credentials_t *make_creds(test_creds_t *t, const char *akid, const char *secret,
                                          const char *token) {
    snprintf(t->akid, sizeof(t->akid), "%s", akid);
    snprintf(t->secret, sizeof(t->secret), "%s", secret);
    snprintf(t->token, sizeof(t->token), "%s", token ? token : "");
    t->c = (kn_credentials_t){t->akid, t->secret, token ? t->token : NULL, 0};
    return &t->c;
}

static const kn_credentials_t *suite_creds(test_creds_t *t, const char *token) {
    return make_creds(t, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token);
}

static kn_sigv4_request_t vector_request(const vector_t *v) {
    return (kn_sigv4_request_t){
        .method = v->method,
        .path = v->path,
        .query = v->query,
        .headers = v->headers,
        .nheaders = v->nheaders,
        .body = (const uint8_t *)v->body,
        .body_len = v->body ? strlen(v->body) : 0,
        .service = "service",
        .region = "us-east-1",
        .when = SUITE_TIME,
        .keep_path = v->keep_path,
    };
}

/* The signed-header list as it appears in a canonical request (its 2nd-to-last line). */
static void signed_headers_of(const char *creq, char *buf, size_t size) {
    const char *end = strrchr(creq, '\n'), *start = end - 1;
    while (start > creq && *start != '\n')
        start--;
    snprintf(buf, size, "%.*s", (int)(end - start - 1), start + 1);
}

START_TEST(suite_vector) {
    const vector_t *v = &VECTORS[_i];
    test_creds_t tc;
    kn_sigv4_request_t req = vector_request(v);
    kn_sigv4_result_t r;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, v->token), &r, 1), KN_OK);
    ck_assert_msg(!strcmp(r.canonical_request, v->creq), "%s: canonical request\n got:\n%s\nwant:\n%s",
                  v->name, r.canonical_request, v->creq);
    ck_assert_msg(!strcmp(r.string_to_sign, v->sts), "%s: string to sign\n got:\n%s\nwant:\n%s", v->name,
                  r.string_to_sign, v->sts);
    ck_assert_msg(!strcmp(r.signature, v->sig), "%s: signature %s, want %s", v->name, r.signature, v->sig);
    ck_assert_str_eq(r.amz_date, SUITE_AMZ_DATE);
    char sh[256], auth[512];
    signed_headers_of(v->creq, sh, sizeof(sh));
    snprintf(auth, sizeof(auth),
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=%s, Signature=%s", sh, v->sig);
    ck_assert_msg(!strcmp(r.authorization, auth), "%s: authorization %s", v->name, r.authorization);
    kn_sigv4_result_clear(&r);

    /* the same request carrying its own X-Amz-Date signs the same at any `when` */
    kn_header_t h[MAX_CASE_HEADERS + 1];
    memcpy(h, v->headers, v->nheaders * sizeof(h[0]));
    h[v->nheaders] = (kn_header_t){"X-Amz-Date", SUITE_AMZ_DATE};
    req.headers = h;
    req.nheaders = v->nheaders + 1;
    req.when = 0;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, v->token), &r, 0), KN_OK);
    ck_assert_msg(!strcmp(r.signature, v->sig), "%s with X-Amz-Date header: %s", v->name, r.signature);
    ck_assert_ptr_null(r.canonical_request);
    ck_assert_ptr_null(r.string_to_sign);
    kn_sigv4_result_clear(&r);
}
END_TEST

/* Signs with suite credentials/time and returns the canonical request (caller frees). */
static char *creq_for(const char *method, const char *path, const char *query, const kn_header_t *h,
                      size_t nh, int keep_path) {
    test_creds_t tc;
    kn_sigv4_request_t req = {.method = method, .path = path, .query = query, .headers = h,
                              .nheaders = nh, .service = "service", .region = "us-east-1",
                              .when = SUITE_TIME, .keep_path = keep_path};
    kn_sigv4_result_t r;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), &r, 1), KN_OK);
    char *creq = r.canonical_request;
    r.canonical_request = NULL;
    kn_sigv4_result_clear(&r);
    return creq;
}

/* Line `n` (0-based) of a canonical request. */
static const char *line_of(const char *s, int n, char *buf, size_t size) {
    for (; n > 0 && s; n--)
        if ((s = strchr(s, '\n')))
            s++;
    ck_assert_ptr_nonnull(s);
    snprintf(buf, size, "%.*s", (int)strcspn(s, "\n"), s);
    return buf;
}

static const kn_header_t HOST_ONLY[] = {{"Host", "example.amazonaws.com"}};

START_TEST(canonical_paths) {
    static const struct {
        const char *in, *want;
        int keep;
    } cases[] = {
        {NULL, "/", 0},           {"", "/", 0},
        {"/a/b/..", "/a/", 0},    {"/a/.", "/a/", 0},          /* RFC 3986 5.2.4 */
        {"/a/./b", "/a/b", 0},    {"/../a", "/a", 0},          {"/a//b///", "/a/b/", 0},
        {"/a%20b", "/a%2520b", 0}, /* encoded on the wire, encoded again */
        {"/a b/c+d:e@f", "/a%20b/c%2Bd%3Ae%40f", 0},
        {"/...", "/...", 0},      {"/.%2E/x", "/.%252E/x", 0}, {"/~x", "/~x", 0},
        {"//a/../", "//a/../", 1}, {"", "/", 1},
    };
    char buf[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *creq = creq_for("GET", cases[i].in, NULL, HOST_ONLY, 1, cases[i].keep);
        ck_assert_msg(!strcmp(line_of(creq, 1, buf, sizeof(buf)), cases[i].want), "path %s -> %s",
                      cases[i].in ? cases[i].in : "(null)", buf);
        free(creq);
    }
}
END_TEST

START_TEST(canonical_queries) {
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"b=2&a=1", "a=1&b=2"},
        {"a=2&a=10&a=1", "a=1&a=10&a=2"},          /* repeated keys by value */
        {"k", "k="},                               /* no '=': empty value */
        {"k=&j=", "j=&k="},
        {"a=1&&b=2&", "a=1&b=2"},                  /* empty pieces dropped */
        {"x=%e1%88%b4", "x=%E1%88%B4"},            /* lowercase escapes normalised */
        {"a+b=c d", "a%2Bb=c%20d"},                /* '+' is literal, raw space encoded */
        {"p=100%&q=%zz&r=%4", "p=100%25&q=%25zz&r=%254"}, /* stray '%' is literal */
        {"%3D=%26", "%3D=%26"},                    /* encoded '=' and '&' stay data */
        {"a=b=c", "a=b%3Dc"},                      /* key ends at the first '=' */
        {"=v", "=v"},
        {"B=1&a=1&_=1&~=1", "B=1&_=1&a=1&~=1"},    /* byte order of the encoded keys */
    };
    char buf[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *creq = creq_for("GET", "/", cases[i].in, HOST_ONLY, 1, 0);
        ck_assert_msg(!strcmp(line_of(creq, 2, buf, sizeof(buf)), cases[i].want), "query %s -> %s",
                      cases[i].in, buf);
        free(creq);
    }
}
END_TEST

START_TEST(canonical_headers) {
    const kn_header_t h[] = {
        {"X-B", "\t two  \t words\t"}, {"host", "h"},   {"x-b", "second"},
        {"X-A", ""},                   {"Authorization", "AWS4-HMAC-SHA256 stale"},
        {"X-C", "   "},                {"X-b", "third"},
    };
    char *creq = creq_for("PUT", "/", NULL, h, sizeof(h) / sizeof(h[0]), 0);
    const char *want = "PUT\n/\n\n"
                       "host:h\nx-a:\nx-amz-date:" SUITE_AMZ_DATE "\nx-b:two words,second,third\nx-c:\n\n"
                       "host;x-a;x-amz-date;x-b;x-c\n"
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    ck_assert_str_eq(creq, want);
    free(creq);
}
END_TEST

START_TEST(session_token_signed_once) {
    test_creds_t tc;
    const kn_header_t h[] = {{"Host", "example.amazonaws.com"}, {"x-AMZ-security-TOKEN", TOKEN_VANILLA}};
    kn_sigv4_request_t req = {.method = "GET", .path = "/", .headers = h, .nheaders = 2,
                              .service = "service", .region = "us-east-1", .when = SUITE_TIME};
    kn_sigv4_result_t with_hdr, without_hdr;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, TOKEN_VANILLA), &with_hdr, 1), KN_OK);
    req.nheaders = 1;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, TOKEN_VANILLA), &without_hdr, 1), KN_OK);
    /* the suite's get-vanilla-with-session-token either way */
    ck_assert_str_eq(with_hdr.signature, "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
    ck_assert_str_eq(without_hdr.signature, with_hdr.signature);
    ck_assert_ptr_nonnull(strstr(with_hdr.authorization, "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
    kn_sigv4_result_clear(&with_hdr);
    kn_sigv4_result_clear(&without_hdr);
    /* an empty token is no token */
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, ""), &without_hdr, 0), KN_OK);
    ck_assert_str_eq(without_hdr.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    kn_sigv4_result_clear(&without_hdr);
}
END_TEST

START_TEST(payload_hash_and_big_body) {
    uint8_t *body = malloc(BIG_BODY);
    ck_assert_ptr_nonnull(body);
    for (size_t i = 0; i < BIG_BODY; i++)
        body[i] = (uint8_t)(i * 131 + 7);
    uint8_t md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(body, BIG_BODY, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);

    test_creds_t tc;
    const kn_header_t h[] = {{"Host", "kinesis.us-east-1.amazonaws.com"},
                             {"X-Amz-Target", "Kinesis_20131202.PutRecords"}};
    kn_sigv4_request_t req = {.method = "POST", .path = "/", .headers = h, .nheaders = 2,
                              .body = body, .body_len = BIG_BODY, .service = "kinesis",
                              .region = "us-east-1", .when = SUITE_TIME};
    kn_sigv4_result_t hashed, given, unsigned_payload;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), &hashed, 1), KN_OK);
    const char *last = strrchr(hashed.canonical_request, '\n') + 1;
    ck_assert_str_eq(last, hex);
    req.payload_hash = hex;
    req.body = NULL; /* a given hash means the body is not read */
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), &given, 0), KN_OK);
    ck_assert_str_eq(given.signature, hashed.signature);
    req.payload_hash = "UNSIGNED-PAYLOAD";
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), &unsigned_payload, 1), KN_OK);
    ck_assert_str_eq(strrchr(unsigned_payload.canonical_request, '\n') + 1, "UNSIGNED-PAYLOAD");
    ck_assert_str_ne(unsigned_payload.signature, hashed.signature);
    kn_sigv4_result_clear(&hashed);
    kn_sigv4_result_clear(&given);
    kn_sigv4_result_clear(&unsigned_payload);
    free(body);
}
END_TEST

START_TEST(key_cache) {
    test_creds_t a, b;
    const kn_header_t h[] = {{"Host", "example.amazonaws.com"}};
    kn_sigv4_request_t req = {.method = "GET", .path = "/", .headers = h, .nheaders = 1,
                              .service = "service", .region = "us-east-1", .when = SUITE_TIME};
    kn_sigv4_key_cache_t cache = {0};
    kn_sigv4_result_t r, plain;
    ck_assert_int_eq(kn_sigv4_sign_cached(&req, suite_creds(&a, NULL), &cache, &r, 0), KN_OK);
    ck_assert_str_eq(r.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    ck_assert_int_eq(cache.valid, 1);
    ck_assert_str_eq(cache.date, "20150830");
    kn_sigv4_result_clear(&r);
    /* a hit gives the same signature */
    ck_assert_int_eq(kn_sigv4_sign_cached(&req, suite_creds(&a, NULL), &cache, &r, 0), KN_OK);
    ck_assert_str_eq(r.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    kn_sigv4_result_clear(&r);

    /* each part of the key's identity changes it: secret, date, region, service */
    for (int part = 0; part < 4; part++) {
        const kn_credentials_t *c = part == 0 ? make_creds(&b, "AKIDEXAMPLE", "another-secret", NULL)
                                              : suite_creds(&b, NULL);
        kn_sigv4_request_t q = req;
        if (part == 1)
            q.when = SUITE_TIME + 86400;
        if (part == 2)
            q.region = "eu-west-1";
        if (part == 3)
            q.service = "kinesis";
        ck_assert_int_eq(kn_sigv4_sign_cached(&q, c, &cache, &r, 0), KN_OK);
        ck_assert_int_eq(kn_sigv4_sign(&q, c, &plain, 0), KN_OK);
        ck_assert_msg(!strcmp(r.signature, plain.signature), "part %d: cached key is stale", part);
        ck_assert_str_ne(r.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        kn_sigv4_result_clear(&r);
        kn_sigv4_result_clear(&plain);
        /* and back again */
        ck_assert_int_eq(kn_sigv4_sign_cached(&req, suite_creds(&a, NULL), &cache, &r, 0), KN_OK);
        ck_assert_str_eq(r.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        kn_sigv4_result_clear(&r);
    }
    kn_sigv4_key_cache_clear(&cache);
    ck_assert_int_eq(cache.valid, 0);
    kn_sigv4_key_cache_clear(NULL);
    kn_sigv4_result_clear(NULL);
}
END_TEST

START_TEST(date_from_when) {
    test_creds_t tc;
    kn_sigv4_request_t req = {.method = "GET", .path = "/", .headers = HOST_ONLY, .nheaders = 1,
                              .service = "s", .region = "r", .when = 0};
    kn_sigv4_result_t r;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), &r, 0), KN_OK);
    ck_assert_str_eq(r.amz_date, "19700101T000000Z");
    ck_assert_ptr_nonnull(strstr(r.authorization, "Credential=AKIDEXAMPLE/19700101/r/s/aws4_request, "));
    kn_sigv4_result_clear(&r);
    req.when = (time_t)4102444799; /* 2099-12-31T23:59:59Z */
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), &r, 0), KN_OK);
    ck_assert_str_eq(r.amz_date, "20991231T235959Z");
    kn_sigv4_result_clear(&r);
    /* a header date wins, surrounding whitespace allowed */
    const kn_header_t h[] = {{"Host", "x"}, {"x-amz-date", " 20200229T010203Z "}};
    req.headers = h;
    req.nheaders = 2;
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), &r, 0), KN_OK);
    ck_assert_str_eq(r.amz_date, "20200229T010203Z");
    kn_sigv4_result_clear(&r);
}
END_TEST

/* One field of a valid request broken per case. */
enum breakage {
    B_NULL_METHOD, B_EMPTY_METHOD, B_SPACE_METHOD, B_NULL_SERVICE, B_NULL_REGION, B_EMPTY_REGION,
    B_SLASH_REGION, B_LONG_SERVICE, B_NULL_AKID, B_EMPTY_AKID, B_SLASH_AKID, B_NULL_SECRET,
    B_EMPTY_SECRET, B_LONG_SECRET, B_TOKEN_NEWLINE, B_NULL_HEADER_NAME, B_EMPTY_HEADER_NAME,
    B_CTL_HEADER_NAME, B_SPACE_HEADER_NAME, B_COLON_HEADER_NAME, B_NULL_HEADER_VALUE,
    B_CRLF_HEADER_VALUE, B_NO_HOST, B_TWO_DATES, B_BAD_DATE, B_SHORT_DATE, B_RELATIVE_PATH,
    B_NULL_HEADERS, B_NULL_BODY, B_BAD_PAYLOAD_HASH, B_UPPER_PAYLOAD_HASH, B_TOO_MANY_HEADERS,
    B_HUGE_WHEN, B_LONG_HEADER_NAME, B_COUNT
};

START_TEST(bad_input) {
    char long_part[KN_SIGV4_MAX_SCOPE_PART + 2], long_secret[KN_SIGV4_MAX_SECRET + 2];
    char long_name[KN_SIGV4_MAX_HEADER_NAME + 2];
    memset(long_part, 'a', sizeof(long_part) - 1);
    long_part[sizeof(long_part) - 1] = '\0';
    memset(long_secret, 's', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    char akid[32] = "AKIDEXAMPLE", secret[KN_SIGV4_MAX_SECRET + 2] = "secret", token[32] = "";
    kn_credentials_t creds = {akid, secret, NULL, 0};
    kn_header_t h[3] = {{"Host", "example.amazonaws.com"}, {"X-Ok", "v"}, {"X-Amz-Date", SUITE_AMZ_DATE}};
    static const uint8_t body[] = "x";
    kn_sigv4_request_t req = {.method = "GET", .path = "/", .headers = h, .nheaders = 2,
                              .body = body, .body_len = 1, .service = "service",
                              .region = "us-east-1", .when = SUITE_TIME};
    kn_header_t *many = NULL;
    switch (_i) {
    case B_NULL_METHOD: req.method = NULL; break;
    case B_EMPTY_METHOD: req.method = ""; break;
    case B_SPACE_METHOD: req.method = "GET X"; break;
    case B_NULL_SERVICE: req.service = NULL; break;
    case B_NULL_REGION: req.region = NULL; break;
    case B_EMPTY_REGION: req.region = ""; break;
    case B_SLASH_REGION: req.region = "us/east"; break;
    case B_LONG_SERVICE: req.service = long_part; break;
    case B_NULL_AKID: creds.access_key_id = NULL; break;
    case B_EMPTY_AKID: akid[0] = '\0'; break;
    case B_SLASH_AKID: strcpy(akid, "AK/ID"); break;
    case B_NULL_SECRET: creds.secret_access_key = NULL; break;
    case B_EMPTY_SECRET: secret[0] = '\0'; break;
    case B_LONG_SECRET: strcpy(secret, long_secret); break;
    case B_TOKEN_NEWLINE: strcpy(token, "tok\nen"); creds.session_token = token; break;
    case B_NULL_HEADER_NAME: h[1].name = NULL; break;
    case B_EMPTY_HEADER_NAME: h[1].name = ""; break;
    case B_CTL_HEADER_NAME: h[1].name = "X-\x01"; break;
    case B_SPACE_HEADER_NAME: h[1].name = "X Ok"; break;
    case B_COLON_HEADER_NAME: h[1].name = "X-Ok:"; break;
    case B_NULL_HEADER_VALUE: h[1].value = NULL; break;
    case B_CRLF_HEADER_VALUE: h[1].value = "v\r\nInjected: 1"; break;
    case B_NO_HOST: h[0].name = "X-Host"; break;
    case B_TWO_DATES: h[1] = h[2]; req.nheaders = 3; break;
    case B_BAD_DATE: h[1] = (kn_header_t){"x-amz-date", "2015-08-30T12:36:00Z"}; break;
    case B_SHORT_DATE: h[1] = (kn_header_t){"X-Amz-Date", "20150830T1236Z"}; break;
    case B_RELATIVE_PATH: req.path = "a/b"; break;
    case B_NULL_HEADERS: req.headers = NULL; break;
    case B_NULL_BODY: req.body = NULL; break;
    case B_BAD_PAYLOAD_HASH: req.payload_hash = "abc"; break;
    case B_UPPER_PAYLOAD_HASH:
        req.payload_hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        break;
    case B_TOO_MANY_HEADERS:
        many = calloc(KN_SIGV4_MAX_HEADERS + 1, sizeof(*many));
        ck_assert_ptr_nonnull(many);
        for (size_t i = 0; i <= KN_SIGV4_MAX_HEADERS; i++)
            many[i] = (kn_header_t){"Host", "h"};
        req.headers = many;
        req.nheaders = KN_SIGV4_MAX_HEADERS + 1;
        break;
    case B_HUGE_WHEN: req.when = (time_t)INT64_MAX; break;
    case B_LONG_HEADER_NAME:
        memset(long_name, 'X', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        h[1].name = long_name;
        break;
    }
    kn_sigv4_result_t r;
    memset(&r, 0x5a, sizeof(r));
    ck_assert_msg(kn_sigv4_sign(&req, &creds, &r, 1) == KN_ERR_INVALID_ARG, "breakage %d accepted", _i);
    ck_assert_ptr_null(r.authorization);
    ck_assert_ptr_null(r.canonical_request);
    ck_assert_ptr_null(r.string_to_sign);
    ck_assert_str_eq(r.signature, "");
    free(many);
}
END_TEST

START_TEST(null_arguments) {
    test_creds_t tc;
    kn_sigv4_request_t req = {.method = "GET", .headers = HOST_ONLY, .nheaders = 1,
                              .service = "s", .region = "r"};
    kn_sigv4_result_t r;
    ck_assert_int_eq(kn_sigv4_sign(NULL, suite_creds(&tc, NULL), &r, 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_sigv4_sign(&req, NULL, &r, 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_sigv4_sign(&req, suite_creds(&tc, NULL), NULL, 0), KN_ERR_INVALID_ARG);
    ck_assert_int_eq(kn_sigv4_sign_cached(&req, suite_creds(&tc, NULL), NULL, &r, 0), KN_OK);
    kn_sigv4_result_clear(&r);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("sigv4");
    TCase *tc = tcase_create("all");
    tcase_add_loop_test(tc, suite_vector, 0, (int)NVECTORS);
    tcase_add_test(tc, canonical_paths);
    tcase_add_test(tc, canonical_queries);
    tcase_add_test(tc, canonical_headers);
    tcase_add_test(tc, session_token_signed_once);
    tcase_add_test(tc, payload_hash_and_big_body);
    tcase_add_test(tc, key_cache);
    tcase_add_test(tc, date_from_when);
    tcase_add_loop_test(tc, bad_input, 0, B_COUNT);
    tcase_add_test(tc, null_arguments);
    suite_add_tcase(s, tc);
    return s;
}

KN_TEST_MAIN(suite)
