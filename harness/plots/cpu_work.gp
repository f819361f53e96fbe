# cpu: throughput against CPU work per request.  Data: one block per series;
# columns W (µs), rps med min max.  W=0 is drawn at 10 µs's left (log x cannot show 0).
load plotdir.'/common.gp'
set title 'Throughput vs CPU work per request (server on one core, median, min-max bars)'
set xlabel 'CPU work per request W (µs, log scale; W=0 drawn at 5 µs)'
set ylabel 'throughput (requests/s, log scale)'
set logscale xy
set format y '10^{%L}'
set xrange [3:*]
xw(x) = x > 0 ? x : 5
plot for [i=1:nseries] datafile index (i-1) using (xw($1)):2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i), \
     [x=30:20000] 1e6/x with lines lc rgb '#999999' dt 3 lw 1 title 'one core: 1e6/W', \
     [x=30:20000] 2e6/x with lines lc rgb '#555555' dt 3 lw 1 title 'two cores: 2e6/W'
