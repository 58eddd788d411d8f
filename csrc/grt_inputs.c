/* grt_inputs.c — named inputs (format 1.4): the "model.inputs" metadata entry that a file with header
 * flag GRT_FILE_NAMED_INPUTS carries, checked by the loader and read by grt_model_input.
 *
 * The value is one line per input, in the order of the model's input vector, joined by '\n' (no
 * trailing newline): `name=width`. name: 1 ... GRT_MAX_INPUT_NAME bytes of UTF-8 without control
 * characters (U+0000-U+001F, U+007F) or '='; unique. width: decimal, no sign or leading zero,
 * 1 ... GRT_MAX_DIM. The widths sum to layer 0's input_size. No floating point, no allocation. */
#include "grt_inputs.h"

/* Length of the well-formed UTF-8 sequence starting at p[0] (n > 0 bytes available), or 0 if it is
 * not one (overlong forms, surrogates and code points above U+10FFFF are not). */
static size_t utf8_sequence(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    if (b < 0x80)
        return 1;
    size_t len = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    /* The second byte's range depends on the first (RFC 3629's table); the others are 80..BF. */
    uint8_t lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    uint8_t hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return 0;
    return len;
}

/* Is name[0, n) an allowed input name's bytes (length checked by the caller)? */
static int name_bytes_ok(const uint8_t *name, size_t n)
{
    for (size_t k = 0; k < n;) {
        if (name[k] < 0x20 || name[k] == 0x7F || name[k] == '=')
            return 0;
        size_t len = utf8_sequence(name + k, n - k);
        if (len == 0)
            return 0;
        k += len;
    }
    return 1;
}

/* Decimal digits d[0, n) as a width in 1 ... GRT_MAX_DIM; 0 if they are not one. */
static uint32_t parse_width(const uint8_t *d, size_t n)
{
    if (n == 0 || n > 5 || d[0] == '0')
        return 0;
    uint32_t v = 0;
    for (size_t k = 0; k < n; k++) {
        if (d[k] < '0' || d[k] > '9')
            return 0;
        v = v * 10u + (uint32_t)(d[k] - '0');
    }
    return v <= GRT_MAX_DIM ? v : 0;
}

/* The line starting at p (end: the end of the value): its name, width and where the next line starts
 * (end when it is the last). Fills *bad (field, actual, expected) and returns 0 if it is malformed. */
static int read_line(const uint8_t *p, const uint8_t *end, grt_input_line *line, grt_inputs_error *bad)
{
    const uint8_t *eol = p, *eq = NULL;
    while (eol < end && *eol != '\n') {
        if (*eol == '=' && eq == NULL)
            eq = eol;
        eol++;
    }
    line->next = eol < end ? eol + 1 : end;
    line->last = eol == end;
    if (eq == NULL) {
        bad->field = "inputs.entry"; /* no "name=width" */
        return 0;
    }
    line->name = p;
    line->name_len = (uint32_t)(eq - p);
    if (line->name_len == 0 || line->name_len > GRT_MAX_INPUT_NAME) {
        bad->field = "inputs.name_len";
        bad->has_values = 1;
        bad->actual = line->name_len;
        bad->expected = line->name_len == 0 ? 1 : GRT_MAX_INPUT_NAME;
        return 0;
    }
    if (!name_bytes_ok(p, line->name_len)) {
        bad->field = "inputs.name";
        return 0;
    }
    line->width = parse_width(eq + 1, (size_t)(eol - eq - 1));
    if (line->width == 0) {
        bad->field = "inputs.width";
        return 0;
    }
    return 1;
}

static int same_name(const grt_input_line *a, const grt_input_line *b)
{
    return a->name_len == b->name_len && grt_bytes_equal(a->name, b->name, a->name_len);
}

grt_status grt_inputs_check(const uint8_t *value, uint32_t len, uint32_t input_size, uint32_t *count,
                            grt_inputs_error *bad)
{
    const uint8_t *p = value, *end = value + len;
    uint64_t total = 0;
    uint32_t n = 0;
    grt_input_line line;
    bad->has_values = 0;
    bad->actual = bad->expected = 0;
    for (int last = 0; !last; n++) {
        bad->index = n;
        if (n == GRT_MAX_INPUTS) {
            bad->field = "inputs.count";
            bad->has_values = 1;
            bad->actual = (uint64_t)n + 1;
            bad->expected = GRT_MAX_INPUTS;
            return GRT_E_METADATA;
        }
        if (!read_line(p, end, &line, bad))
            return GRT_E_METADATA;
        /* Unique names: compare with every earlier line (at most GRT_MAX_INPUTS of them). */
        grt_input_line earlier;
        for (const uint8_t *q = value; q < p; q = earlier.next) {
            read_line(q, end, &earlier, bad); /* already checked */
            if (same_name(&earlier, &line)) {
                bad->field = "inputs.name"; /* repeated */
                return GRT_E_METADATA;
            }
        }
        total += line.width;
        p = line.next;
        last = line.last;
    }
    if (total != input_size) {
        bad->field = "inputs.width_sum";
        bad->index = -1;
        bad->has_values = 1;
        bad->actual = total;
        bad->expected = input_size;
        return GRT_E_METADATA;
    }
    *count = n;
    return GRT_OK;
}

grt_status grt_model_input(const grt_model *model, uint32_t i, grt_input_info *out)
{
    if (out != NULL)
        grt_memset(out, 0, sizeof *out);
    if (model == NULL || out == NULL || model->inputs == NULL || i >= model->n_inputs)
        return GRT_E_ARG;
    /* The value was checked by the loader: every line reads. */
    const uint8_t *p = model->inputs, *end = model->inputs + model->inputs_len;
    grt_input_line line;
    grt_inputs_error unused;
    uint32_t offset = 0;
    for (uint32_t k = 0;; k++) {
        read_line(p, end, &line, &unused);
        if (k == i)
            break;
        offset += line.width;
        p = line.next;
    }
    out->name = (const char *)line.name;
    out->name_len = line.name_len;
    out->width = line.width;
    out->offset = offset;
    return GRT_OK;
}
