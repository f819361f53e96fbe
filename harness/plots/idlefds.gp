# idlefds: what idle descriptors cost.  Data: one block per series; columns N (idle
# descriptors), CPU µs per active request, active p99 µs, syscalls per request (each
# median min max).
load plotdir.'/common.gp'
set multiplot layout 1,3 title sprintf("%s active connections at %s req/s beside N idle ones (median, min-max bars)", active, rate)
set xlabel 'idle descriptors (thousands)'
set key off
set title 'server CPU per active request'
set ylabel 'µs per request (log)'
set logscale y
plot for [i=1:nseries] datafile index (i-1) using ($1/1000):2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6
set title "active clients' p99"
set ylabel 'p99 latency (µs, log)'
plot for [i=1:nseries] datafile index (i-1) using ($1/1000):5:6:7 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6
set title 'system calls per request'
set ylabel 'syscalls per request'
unset logscale y
set yrange [0:*]
set key outside right top vertical Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using ($1/1000):8:9:10 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6 title word(names, i)
unset multiplot
