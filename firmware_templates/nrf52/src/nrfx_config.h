/* nrfx_config.h: the nrfx drivers this project uses (PDM, UARTE0); everything else keeps nrfx's defaults from
 * its templates/ (nrfx 3.x: nrfx_config_common.h and the nRF52840's file). */
#ifndef NRFX_CONFIG_H__
#define NRFX_CONFIG_H__

#define NRFX_PDM_ENABLED 1
#define NRFX_UARTE_ENABLED 1
#define NRFX_UARTE0_ENABLED 1

#include "templates/nrfx_config_common.h"
#include "templates/nrfx_config_nrf52840.h"

#endif /* NRFX_CONFIG_H__ */
