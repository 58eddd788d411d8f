#!/bin/sh
# step_size.sh — what a --gc-sections link kept of each gru_rt object (make -C csrc mcu-size):
#
#     step_size.sh NAME MAP
#
# MAP is the GNU ld map of port/cortex-m/step_path.c linked with -Wl,--gc-sections against a
# libgru_rt.a compiled with -ffunction-sections -fdata-sections. Sums the sizes of the kept input
# sections (.text*, .rodata*) of each libgru_rt.a member, then prints them in three groups: the q15
# step path (every other object: grt_kernels_q15, grt_cell_*, grt_q15_tables, grt_stream, grt_dispatch,
# grt_mask: the products, activations, gates, cells and layer loop, the tables, the stream calls
# including grt_stream_init, the kernel choice), the loader (grt_load: validation, status and field
# names; grt_inputs: the check of the named-inputs record, which only the loader calls) and the CRC-32
# (grt_crc32, with its table).
set -eu
name=$1 map=$2
awk -v name="$name" '
function hex(s,    v, i) { # "0x1c" -> 28 (POSIX awk has no strtonum)
    v = 0; s = tolower(substr(s, 3))
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
}
function add(sec, size, file,    obj, kind, grp) {
    if (file !~ /libgru_rt\.a\(/ || sec !~ /^\.(text|rodata)/) return
    obj = file; sub(/.*libgru_rt\.a\(/, "", obj); sub(/\.o\).*/, "", obj)
    kind = sec ~ /^\.text/ ? "text" : "rodata"
    grp = obj == "grt_load" || obj == "grt_inputs" ? "loader" : obj == "grt_crc32" ? "crc" : "step"
    sz[grp, kind] += hex(size); per[obj, kind] += hex(size); objs[obj] = 1
}
/^Linker script and memory map/ { on = 1; next }
!on { next }
/^ \.[^ ]+$/ { pending = $1; next }                                  # name alone; the rest follows
/^ \.[^ ]+ +0x/ { add($1, $3, $4); pending = ""; next }
pending != "" && /^ +0x[0-9a-f]+ +0x[0-9a-f]+ / { add(pending, $2, $3); pending = ""; next }
{ pending = "" }
END {
    printf "%-22s step path .text %5d .rodata %5d (sum %5d) | loader .text %5d .rodata %5d | crc32 .text %4d .rodata %4d | all %5d\n",
        name ":", sz["step", "text"], sz["step", "rodata"], sz["step", "text"] + sz["step", "rodata"],
        sz["loader", "text"], sz["loader", "rodata"], sz["crc", "text"], sz["crc", "rodata"],
        sz["step", "text"] + sz["step", "rodata"] + sz["loader", "text"] + sz["loader", "rodata"] + sz["crc", "text"] + sz["crc", "rodata"]
    line = ""
    for (o in objs) line = line sprintf(" %s %d+%d", o, per[o, "text"], per[o, "rodata"])
    print "  " name " per object (.text+.rodata):" line
}' "$map"
