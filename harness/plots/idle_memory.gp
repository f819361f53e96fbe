# idle: cost of N idle connections.  Data: one block per series; columns N, rss kB,
# kernel kB (stack + TCP buffers change), threads, active p99 µs (each med min max).
load plotdir.'/common.gp'
set multiplot layout 2,2 title 'Idle keep-alive connections: what they cost (median, min-max bars)'
set xlabel 'idle connections'
set key off
set title 'server resident memory'
set ylabel 'VmRSS (MiB)'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($2/1024):($3/1024):($4/1024) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6
set title 'kernel memory: thread stacks + TCP buffers'
set ylabel 'change (MiB)'
set yrange [*:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($5/1024):($6/1024):($7/1024) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6
set title 'server threads'
set ylabel 'threads (log)'
set logscale y
plot for [i=1:nseries] datafile index (i-1) using 1:8:9:10 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6
set title sprintf("active clients' p99 at %s req/s", rate)
set ylabel 'p99 latency (µs, log)'
set key outside right top vertical Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using 1:11:12:13 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6 title word(names, i)
unset multiplot
