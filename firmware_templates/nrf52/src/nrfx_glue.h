/* nrfx_glue.h: nrfx on bare metal, what nrfx 3.x's templates/nrfx_glue.h asks a host environment for: CMSIS NVIC
 * calls, PRIMASK critical sections, GCC atomics, and the MDK's IRQ handler names (soc/nrfx_irqs.h). */
#ifndef NRFX_GLUE_H__
#define NRFX_GLUE_H__

#include <soc/nrfx_irqs.h> /* nrfx_pdm_irq_handler is PDM_IRQHandler, and so on, at link time */
#include <soc/nrfx_coredep.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NRFX_ASSERT(expression) do { if (!(expression)) { for (;;) { } } } while (0) /* a driver misuse stops */
#define NRFX_STATIC_ASSERT(expression) _Static_assert((expression), "nrfx")

#define NRFX_IRQ_PRIORITY_SET(irq_number, priority) NVIC_SetPriority((irq_number), (priority))
#define NRFX_IRQ_ENABLE(irq_number) NVIC_EnableIRQ(irq_number)
#define NRFX_IRQ_IS_ENABLED(irq_number) (NVIC_GetEnableIRQ(irq_number) != 0u)
#define NRFX_IRQ_DISABLE(irq_number) NVIC_DisableIRQ(irq_number)
#define NRFX_IRQ_PENDING_SET(irq_number) NVIC_SetPendingIRQ(irq_number)
#define NRFX_IRQ_PENDING_CLEAR(irq_number) NVIC_ClearPendingIRQ(irq_number)
#define NRFX_IRQ_IS_PENDING(irq_number) (NVIC_GetPendingIRQ(irq_number) != 0u)

#define NRFX_CRITICAL_SECTION_ENTER() { const uint32_t nrfx_primask = __get_PRIMASK(); __disable_irq();
#define NRFX_CRITICAL_SECTION_EXIT() __set_PRIMASK(nrfx_primask); }

#define NRFX_DELAY_DWT_BASED 0
#define NRFX_DELAY_US(us_time) nrfx_coredep_delay_us(us_time)

#define nrfx_atomic_t uint32_t
#define NRFX_ATOMIC_FETCH_STORE(p_data, value) __atomic_exchange_n((p_data), (value), __ATOMIC_SEQ_CST)
#define NRFX_ATOMIC_FETCH_OR(p_data, value) __atomic_fetch_or((p_data), (value), __ATOMIC_SEQ_CST)
#define NRFX_ATOMIC_FETCH_AND(p_data, value) __atomic_fetch_and((p_data), (value), __ATOMIC_SEQ_CST)
#define NRFX_ATOMIC_FETCH_XOR(p_data, value) __atomic_fetch_xor((p_data), (value), __ATOMIC_SEQ_CST)
#define NRFX_ATOMIC_FETCH_ADD(p_data, value) __atomic_fetch_add((p_data), (value), __ATOMIC_SEQ_CST)
#define NRFX_ATOMIC_FETCH_SUB(p_data, value) __atomic_fetch_sub((p_data), (value), __ATOMIC_SEQ_CST)

#define NRFX_CUSTOM_ERROR_CODES 0
#define NRFX_DPPI_CHANNELS_USED 0
#define NRFX_DPPI_GROUPS_USED 0
#define NRFX_PPI_CHANNELS_USED 0
#define NRFX_PPI_GROUPS_USED 0
#define NRFX_SWI_USED 0
#define NRFX_TIMERS_USED 0

#ifdef __cplusplus
}
#endif

#endif /* NRFX_GLUE_H__ */
