/* spectra keygen NAME: a CURVE key pair in CZMQ's zcert format (docs/operations.md, "Security"). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char keygen_usage[] =
    "usage: spectra keygen NAME\n"
    "\n"
    "Writes a new CURVE key pair: NAME.key (the public key: copy it into the daemon's allow-list\n"
    "directory of each role it needs, or hand it to clients if NAME is the server) and\n"
    "NAME.key_secret (the secret key, mode 0600: it never leaves this machine). Refuses to\n"
    "overwrite existing files. Both are CZMQ zcert text files.\n";

static int no_options(cli_ctx *ctx, void *state, int id, const char *value)
{
    (void)ctx, (void)state, (void)id, (void)value;
    return CLI_USAGE;
}

int cmd_keygen(cli_ctx *ctx, int argc, char **argv)
{
    char **pos;
    size_t n_pos;
    int rc = cli_parse(ctx, argc, argv, NULL, no_options, NULL, keygen_usage, &pos, &n_pos);
    if (rc)
        return rc;
    if (n_pos != 1) {
        free(pos);
        return cli_usage_error(ctx, "expected one NAME");
    }
    char err[1024];
    const char *base = pos[0];
    rc = spectra_keygen(base, err, sizeof err);
    free(pos);
    if (rc) {
        cli_error(ctx, "%s", err);
        return CLI_FAIL;
    }
    printf("wrote %s.key (public) and %s.key_secret (secret, mode 0600)\n", base, base);
    return CLI_OK;
}
