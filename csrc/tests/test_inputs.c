/* Named inputs (format 1.4): the header flag GRT_FILE_NAMED_INPUTS with its "model.inputs" record.
 * A valid record loads and grt_model_input reads it back; each broken rule of docs/FORMAT.md
 * ("Named inputs") gets its status, field and index; without the flag the entry is plain metadata. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "test_writer.h"

#if GRT_HAS_F32

#define CAP 16384

static uint8_t *g_buf;

/* GRU (in -> 3) with the record `value` (none when NULL) and header flags `flags`. */
static size_t build_with(uint32_t in, const char *value, uint32_t flags)
{
    tw_layer L[] = {{GRT_LAYER_GRU, GRT_ACT_TANH, GRT_ACT_SIGMOID, 1, in, 3, GRT_PREC_F32}};
    tw_meta meta[] = {{"model.inputs", value}, {"tool.name", "gru_rt"}};
    size_t n = value != NULL ? tw_build(g_buf, CAP, L, 1, meta, 2, NULL, 3, 0.5f)
                             : tw_build(g_buf, CAP, L, 1, meta + 1, 1, NULL, 3, 0.5f);
    tw_put_u32(g_buf, 24, flags);
    tw_fix_crc(g_buf, n);
    return n;
}

static void expect_bad(uint32_t in, const char *value, const char *field, int32_t index, int has_values,
                       uint64_t actual, uint64_t expected, int line)
{
    size_t n = build_with(in, value, GRT_FILE_NAMED_INPUTS);
    grt_model m;
    grt_diag d;
    grt_status st = grt_model_load(&m, g_buf, n, 0, &d);
    int ok = st == GRT_E_METADATA && strcmp(d.field, field) == 0 && d.index == index &&
             d.has_values == has_values && (!has_values || (d.actual == actual && d.expected == expected));
    check_impl(ok, "named inputs: diagnosis", __FILE__, line);
    if (!ok)
        fprintf(stderr, "    got %s field=%s index=%d values=%d actual=%llu expected=%llu\n",
                grt_status_name(st), d.field, d.index, d.has_values, (unsigned long long)d.actual,
                (unsigned long long)d.expected);
}

#define BAD(in, value, field, index) expect_bad(in, value, field, index, 0, 0, 0, __LINE__)
#define BAD_V(in, value, field, index, a, e) expect_bad(in, value, field, index, 1, a, e, __LINE__)

static int input_is(const grt_model *m, uint32_t i, const char *name, uint32_t width, uint32_t offset)
{
    grt_input_info info;
    return grt_model_input(m, i, &info) == GRT_OK && info.name_len == strlen(name) &&
           memcmp(info.name, name, info.name_len) == 0 && info.width == width && info.offset == offset;
}

static void test_valid(void)
{
    grt_model m;
    grt_input_info info;
    size_t n = build_with(7, "acc=3\ngyro=3\n\xC3\xA9t\xC3\xA9 x:0=1", GRT_FILE_NAMED_INPUTS);
    CHECK(grt_model_load(&m, g_buf, n, 0, NULL) == GRT_OK);
    CHECK_EQ_U(m.n_inputs, 3);
    CHECK(input_is(&m, 0, "acc", 3, 0));
    CHECK(input_is(&m, 1, "gyro", 3, 3));
    CHECK(input_is(&m, 2, "\xC3\xA9t\xC3\xA9 x:0", 1, 6));
    memset(&info, 0xA5, sizeof info);
    CHECK(grt_model_input(&m, 3, &info) == GRT_E_ARG && info.name == NULL && info.width == 0);
    CHECK(grt_model_input(NULL, 0, &info) == GRT_E_ARG);
    CHECK(grt_model_input(&m, 0, NULL) == GRT_E_ARG);

    /* One input of the whole width; the widest name; GRT_MAX_INPUTS inputs. */
    n = build_with(5, "x=5", GRT_FILE_NAMED_INPUTS);
    CHECK(grt_model_load(&m, g_buf, n, 0, NULL) == GRT_OK && m.n_inputs == 1 && input_is(&m, 0, "x", 5, 0));
    char name[GRT_MAX_INPUT_NAME + 8];
    memset(name, 'n', GRT_MAX_INPUT_NAME);
    strcpy(name + GRT_MAX_INPUT_NAME, "=2");
    n = build_with(2, name, GRT_FILE_NAMED_INPUTS);
    CHECK(grt_model_load(&m, g_buf, n, 0, NULL) == GRT_OK && m.n_inputs == 1);
    char many[GRT_MAX_INPUTS * 8 + 8], *p = many;
    for (int i = 0; i < GRT_MAX_INPUTS; i++)
        p += sprintf(p, "%si%d=1", i ? "\n" : "", i);
    n = build_with(GRT_MAX_INPUTS, many, GRT_FILE_NAMED_INPUTS);
    CHECK(grt_model_load(&m, g_buf, n, 0, NULL) == GRT_OK && m.n_inputs == GRT_MAX_INPUTS);
    CHECK(input_is(&m, GRT_MAX_INPUTS - 1, "i63", 1, GRT_MAX_INPUTS - 1));

    /* Without the flag the entry is plain metadata (what a 1.0-1.3 file holding it means). */
    n = build_with(7, "not a record", 0);
    CHECK(grt_model_load(&m, g_buf, n, 0, NULL) == GRT_OK && m.n_inputs == 0 && m.inputs == NULL);
    CHECK(grt_model_input(&m, 0, &info) == GRT_E_ARG);
}

static void test_broken(void)
{
    grt_model m;
    grt_diag d;
    size_t n = build_with(4, NULL, GRT_FILE_NAMED_INPUTS);
    CHECK(grt_model_load(&m, g_buf, n, 0, &d) == GRT_E_METADATA && strcmp(d.field, "inputs.record") == 0);
    /* An unknown flag bit: GRT_E_HEADER naming the flags (what a 1.3 reader says of bit 1). */
    n = build_with(4, "a=4", GRT_FILE_NAMED_INPUTS | 4u);
    CHECK(grt_model_load(&m, g_buf, n, 0, &d) == GRT_E_HEADER && strcmp(d.field, "header.flags") == 0 &&
          d.actual == 6 && d.expected == 2);

    BAD(4, "", "inputs.entry", 0);
    BAD(4, "a=1\nb", "inputs.entry", 1);
    BAD(4, "a=4\n", "inputs.entry", 1); /* a trailing newline is an empty last line */
    BAD_V(4, "=4", "inputs.name_len", 0, 0, 1);
    char name[GRT_MAX_INPUT_NAME + 8];
    memset(name, 'n', GRT_MAX_INPUT_NAME + 1);
    strcpy(name + GRT_MAX_INPUT_NAME + 1, "=4");
    BAD_V(4, name, "inputs.name_len", 0, GRT_MAX_INPUT_NAME + 1, GRT_MAX_INPUT_NAME);
    BAD(4, "a\tb=4", "inputs.name", 0);         /* a control character */
    BAD(4, "x=1\na\x7f=3", "inputs.name", 1);   /* DEL */
    BAD(4, "\xC0\x80=4", "inputs.name", 0);     /* overlong NUL */
    BAD(4, "\xED\xA0\x80=4", "inputs.name", 0); /* a surrogate */
    BAD(4, "\xF4\x90\x80\x80=4", "inputs.name", 0); /* above U+10FFFF */
    BAD(4, "\xE2\x82=4", "inputs.name", 0);     /* a sequence cut short */
    BAD(4, "a=1\nb=1\na=2", "inputs.name", 2);  /* repeated */
    BAD(4, "a=0\nb=4", "inputs.width", 0);
    BAD(4, "a=04", "inputs.width", 0);
    BAD(4, "a=+4", "inputs.width", 0);
    BAD(4, "a=", "inputs.width", 0);
    BAD(4, "a=b=4", "inputs.width", 0);
    BAD(4, "a=16385", "inputs.width", 0);
    BAD(4, "a=100000", "inputs.width", 0);
    BAD_V(4, "a=1\nb=2", "inputs.width_sum", -1, 3, 4);
    BAD_V(4, "a=3\nb=2", "inputs.width_sum", -1, 5, 4);
    char many[(GRT_MAX_INPUTS + 1) * 8 + 8], *p = many;
    for (int i = 0; i <= GRT_MAX_INPUTS; i++)
        p += sprintf(p, "%si%d=1", i ? "\n" : "", i);
    BAD_V(GRT_MAX_INPUTS + 1, many, "inputs.count", GRT_MAX_INPUTS, GRT_MAX_INPUTS + 1, GRT_MAX_INPUTS);
}

void test_inputs(void)
{
    uint8_t *mem = NULL;
    void *base = alloc_shifted(CAP, 0, &mem);
    g_buf = mem;
    test_valid();
    test_broken();
    free(base);
}

#else
void test_inputs(void)
{
    SKIPPED("named inputs (GRT_NO_F32)");
}
#endif
