/* Region and endpoint resolution: pure string building from conf and environment. */
#ifndef KN_ENDPOINT_H
#define KN_ENDPOINT_H

#include <stddef.h>

#include "conf.h"

/**
 * The region: conf `region`, else AWS_REGION, else AWS_DEFAULT_REGION, else the
 * profile's `region` in the shared config file. KN_ERR_NO_REGION when none.
 */
kn_err_t kn_region_resolve(const kn_conf_t *conf, char *buf, size_t size);

/**
 * The endpoint URL for `service` ("kinesis", "dynamodb", "sts"): its conf
 * property, else AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, else
 * https://<service>.<region>.amazonaws.com (".amazonaws.com.cn" in cn-*
 * regions). A trailing '/' is removed. KN_ERR_INVALID_ARG for a URL that is not
 * http:// or https://.
 */
kn_err_t kn_endpoint_resolve(const kn_conf_t *conf, const char *service, const char *region,
                             char *buf, size_t size);

/** Parts of an endpoint URL. */
typedef struct kn_url_s {
    int https;
    char host[256];   /* without brackets for IPv6 */
    int port;         /* explicit or scheme default */
    char authority[300]; /* value of the Host header: host, plus ":port" when not default */
    char path[256];   /* "/" when empty */
} kn_url_t;

kn_err_t kn_url_parse(const char *url, kn_url_t *out);

#endif
