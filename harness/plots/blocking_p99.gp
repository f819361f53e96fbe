# blocking: p99 and throughput against offered rate.  Data: one block per series;
# columns rate, p99 µs (med min max), rps (med min max).
load plotdir.'/common.gp'
set multiplot layout 1,2 title sprintf('A %d µs blocking call per request (median, min-max bars)', block)
set xlabel 'offered rate (requests/s)'
set xtics 500
set key off
set title 'p99 latency (from when each request was due)'
set ylabel 'p99 (µs, log scale)'
set logscale y
set format y '10^{%L}'
plot for [i=1:nseries] datafile index (i-1) using 1:2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7
unset logscale y
set format y '%g'
set title 'achieved throughput'
set ylabel 'requests/s'
set yrange [0:*]
set key outside right top vertical Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using 1:5:6:7 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i), \
     x with lines lc rgb '#999999' dt 3 title 'offered', \
     cap with lines lc rgb '#555555' dt 2 title 'one loop: 1/(block time)'
unset multiplot
