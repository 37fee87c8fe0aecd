#include "security.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "curve_keys.h"

static const char *const role_names[SPX_ROLE_COUNT] = {"ingest", "results", "control"};
static const char *const role_keys[SPX_ROLE_COUNT] = {"producer_keys", "subscriber_keys",
                                                       "operator_keys"};

const char *spx_role_name(spx_role role) { return role_names[role]; }
const char *spx_role_config_key(spx_role role) { return role_keys[role]; }

bool spx_security_enabled(const spx_security_config *s) { return s->secret_key_file[0] != '\0'; }

bool spx_endpoint_is_loopback(const char *ep)
{
    /* 127.0.0.0/8 is loopback; "tcp://127.0.0.1;192.168.1.2:5555" (a source address) is not. */
    static const char *const prefixes[] = {"tcp://127.", "tcp://[::1]:", "tcp://localhost:",
                                           "ipc://", "inproc://"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(ep, prefixes[i], strlen(prefixes[i])))
            return i >= 3 || !strchr(ep, ';');
    return false;
}

static int parse_yes_no(const char *v, bool *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return -1;
    return 0;
}

int spx_security_config_key(spx_security_config *s, const char *name, const char *value, int line,
                            char *err, size_t errlen)
{
    char why[768];
    if (!strcmp(name, "allow_insecure_remote")) {
        if (parse_yes_no(value, &s->allow_insecure_remote)) {
            snprintf(err, errlen, "allow_insecure_remote=%s: expected yes or no", value);
            return -1;
        }
        return 1;
    }
    if (!strcmp(name, "curve_secret_key")) {
        if (strlen(value) >= sizeof s->secret_key_file) {
            snprintf(err, errlen, "curve_secret_key: path too long");
            return -1;
        }
        spx_curve_keypair kp;
        if (spx_curve_key_load(value, true, &kp, why, sizeof why) != 0) {
            snprintf(err, errlen, "curve_secret_key: %s", why);
            return -1;
        }
        spx_curve_keypair_wipe(&kp);
        snprintf(s->secret_key_file, sizeof s->secret_key_file, "%s", value);
        s->secret_key_line = line;
        return 1;
    }
    for (int r = 0; r < SPX_ROLE_COUNT; r++) {
        if (strcmp(name, role_keys[r]) != 0)
            continue;
        struct stat st;
        if (strlen(value) >= sizeof s->key_dirs[r]) {
            snprintf(err, errlen, "%s: path too long", name);
            return -1;
        }
        if (stat(value, &st) != 0) {
            snprintf(err, errlen, "%s = %s: %s", name, value, strerror(errno));
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s = %s: not a directory", name, value);
            return -1;
        }
        spx_keyset ks;
        if (spx_keyset_load_dir(value, &ks, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: %s", name, why);
            return -1;
        }
        spx_keyset_free(&ks);
        snprintf(s->key_dirs[r], sizeof s->key_dirs[r], "%s", value);
        s->key_dir_lines[r] = line;
        return 1;
    }
    return 0;
}

int spx_security_check_file(const spx_security_config *s, const char *path, char *err,
                            size_t errlen)
{
    if (spx_security_enabled(s))
        return 0;
    for (int r = 0; r < SPX_ROLE_COUNT; r++)
        if (s->key_dirs[r][0]) {
            snprintf(err, errlen, "%s:%d: %s needs curve_secret_key (the server's secret key "
                     "file)", path, s->key_dir_lines[r], role_keys[r]);
            return -1;
        }
    return 0;
}

int spx_security_validate(const spx_security_config *s, const char *const endpoints[3], char *err,
                          size_t errlen)
{
    static const char *const ep_names[3] = {"ingest", "publish", "control"};
    if (spx_security_enabled(s) || s->allow_insecure_remote)
        return 0;
    for (int i = 0; i < 3; i++)
        if (!spx_endpoint_is_loopback(endpoints[i])) {
            snprintf(err, errlen, "%s endpoint %s is not loopback and no CURVE keys are "
                     "configured: anyone who can reach it could use it. Set curve_secret_key and "
                     "the allow-lists (docs/operations.md, Security), or allow_insecure_remote = "
                     "yes", ep_names[i], endpoints[i]);
            return -1;
        }
    return 0;
}
