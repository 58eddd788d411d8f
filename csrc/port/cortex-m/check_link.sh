#!/bin/sh
# check_link.sh — check and measure one linked Cortex-M program of the gru_rt port (make -C csrc
# cortex-m, mps2-run):
#
#     check_link.sh NAME MODE ELF MAP LIBDIR [TOOL_PREFIX]
#
# MODE says which software floating-point routines (libgcc's soft-float: __aeabi_f*/__aeabi_d*,
# __addsf3, __aeabi_i2f, ...) may appear among the ELF's symbols:
#   nofloat   none at all (an FPU-less core running the q15 integer path)
#   nodouble  no double-precision or integer<->float conversion routine (cores with a single-precision
#             FPU: every float operation the core does must be an FPU instruction)
#   control   at least one must appear (proves that the check sees them: the full core on an FPU-less
#             core needs them)
# Then it prints the sizes (.text/.rodata/.data/.bss, from arm-none-eabi-size -A) of the library
# objects the map says were linked (members of libgru_rt.a in "Archive member included"), summed,
# and sizeof(grt_model)/sizeof(grt_stream) (the globals `model` and `stream` of the program, nm -S).
# Exit status 1 if the check fails.
set -eu
name=$1 mode=$2 elf=$3 map=$4 libdir=$5 prefix=${6:-arm-none-eabi-}

# Software floating point of libgcc (ARM RTABI names and the generic GCC ones).
all_re='^(__aeabi_(f|d)[a-z0-9]+|__aeabi_(u?i|u?l)2(f|d)|__(add|sub|mul|div|neg)(s|d)f3|__(eq|ne|lt|le|gt|ge|cmp|unord)(s|d)f2|__(fix|fixuns)(s|d)f(s|d)i|__float(un)?(s|d)i(s|d)f|__extendsfdf2|__truncdfsf2)$'
double_re='^(__aeabi_d[a-z0-9]+|__aeabi_f2d|__aeabi_(u?i|u?l)2d|__aeabi_u?l2f|__aeabi_f2u?lz|__(add|sub|mul|div|neg)df3|__(eq|ne|lt|le|gt|ge|cmp|unord)df2|__(fix|fixuns)(s|d)fdi|__(fix|fixuns)dfsi|__float(un)?(s|d)idf|__float(un)?disf|__extendsfdf2|__truncdfsf2)$'

case $mode in
nofloat | control) re=$all_re ;;
nodouble) re=$double_re ;;
*) echo "check_link.sh: unknown mode $mode" >&2; exit 2 ;;
esac
found=$("${prefix}nm" "$elf" | awk '{print $NF}' | grep -E "$re" | sort -u | tr '\n' ' ' || true)

members=$(awk '/^Archive member included/ {on = 1; next} /^(Discarded input sections|Allocating common symbols|Memory Configuration)/ {on = 0}
               on && /libgru_rt\.a\(/ { s = $1; sub(/.*libgru_rt\.a\(/, "", s); sub(/\).*/, "", s); print s }' "$map" | sort -u)
sizes=$(for m in $members; do "${prefix}size" -A "$libdir/$m"; done | awk '
    $1 ~ /^\.text/ {t += $2} $1 ~ /^\.rodata/ {r += $2} $1 ~ /^\.data/ {d += $2} $1 ~ /^\.bss/ {b += $2}
    END {printf ".text %d .rodata %d .data %d .bss %d", t, r, d, b}')
model=$(printf '%d' "0x$("${prefix}nm" -S "$elf" | awk '$NF == "model" {print $2}')")
stream=$(printf '%d' "0x$("${prefix}nm" -S "$elf" | awk '$NF == "stream" {print $2}')")

printf '%-16s %s | sizeof(grt_model) %s, sizeof(grt_stream) %s | objects: %s\n' "$name:" "$sizes" \
    "$model" "$stream" "$(echo $members | sed 's/\.o//g')"
case $mode in
control)
    if [ -z "$found" ]; then
        echo "$name: FAILED: expected software floating point (control), found none" >&2
        exit 1
    fi
    echo "$name: control: software floating point found, as expected: $found"
    ;;
*)
    if [ -n "$found" ]; then
        echo "$name: FAILED: software floating-point routines linked ($mode): $found" >&2
        exit 1
    fi
    echo "$name: no software floating-point routine ($mode) in $(basename "$elf")"
    ;;
esac
