/* grt_inputs.h — the named-inputs record (format 1.4), shared by the loader and grt_model_input.
 * Not part of the public API. */
#ifndef GRT_INPUTS_H
#define GRT_INPUTS_H

#include "grt_internal.h"

/* The metadata key of the record (docs/FORMAT.md, "Named inputs"). */
#define GRT_INPUTS_KEY "model.inputs"
#define GRT_INPUTS_KEY_LEN 12u

/* One line of the record. */
typedef struct grt_input_line {
    const uint8_t *name;
    uint32_t name_len;
    uint32_t width;
    const uint8_t *next; /* where the next line starts */
    int last;            /* 1 for the last line */
} grt_input_line;

/* What is wrong with a record: the loader's diagnostic fields. */
typedef struct grt_inputs_error {
    const char *field;
    int64_t index;
    int has_values;
    uint64_t actual, expected;
} grt_inputs_error;

/* Check the record value[0, len) against layer 0's input_size; GRT_OK and *count = the number of
 * inputs, or GRT_E_METADATA with *bad filled. */
grt_status grt_inputs_check(const uint8_t *value, uint32_t len, uint32_t input_size, uint32_t *count,
                            grt_inputs_error *bad);

#endif /* GRT_INPUTS_H */
