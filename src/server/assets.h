/* assets.h — the pages, styles and scripts of `lowp ui`, compiled into the binary from ui/ by
 * ui/embed.c at build time (build/gen/ui_assets.c). */
#ifndef LP_SERVER_ASSETS_H
#define LP_SERVER_ASSETS_H

#include <stddef.h>

typedef struct lp_asset {
    const char *name;           /* base name in ui/, e.g. "app.js" */
    const unsigned char *data;  /* size bytes (plus a NUL not counted) */
    size_t size;
} lp_asset;

extern const lp_asset lp_ui_assets[];
extern const int lp_ui_n_assets;

#endif
