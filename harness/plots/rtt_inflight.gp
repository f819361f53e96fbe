# rtt: the same load at each round-trip time.  Data: one block per series; columns
# x (the round trip's position), requests in flight, threads, RSS kB, p99 µs (each
# med min max); then one block with Little's law's X·R at each position (RTT > 0).
# rtts: the round trips, in order (the x tics' labels); nrtt: how many.
load plotdir.'/common.gp'
set multiplot layout 2,2 title sprintf('%s requests/s over a wire with a round-trip time (median, min-max bars)', rate)
set xlabel 'round-trip time added (ms)'
set xrange [-0.3:nrtt-0.7]
set xtics ()
do for [k=1:nrtt] { set xtics add (word(rtts, k) k-1) }
set key off
set title 'requests in flight (throughput x mean latency)'
set ylabel 'requests (log)'
set logscale y
set key inside top left Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using 1:2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6 notitle, \
     datafile index nseries using 1:2 with linespoints lc rgb '#555555' dt 2 lw 1 pt 1 ps 1 \
     title "Little's law, X·R"
set key off
set title 'server threads'
set ylabel 'threads (log)'
plot for [i=1:nseries] datafile index (i-1) using 1:5:6:7 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6
unset logscale y
set title 'server resident memory'
set ylabel 'VmRSS (MiB)'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($8/1024):($9/1024):($10/1024) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6
set title 'p99 latency'
set ylabel 'p99 (ms, log)'
set yrange [*:*]
set logscale y
set key outside right top vertical Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using 1:($11/1000):($12/1000):($13/1000) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.6 title word(names, i)
unset multiplot
