# latency: p50 and p99 against offered load (% of each model's capacity).
# Data: one block per series; columns load %, p50 (med min max), p99 (med min max).
load plotdir.'/common.gp'
set title 'Latency vs offered load (open loop; percentiles of the merged repetitions, min-max bars)'
set xlabel "offered load (% of the model's measured capacity)"
set ylabel 'latency (µs, log scale)'
set logscale y
set format y '10^{%L}'
set xrange [0:*]
set arrow from 100, graph 0 to 100, graph 1 nohead lc rgb '#999999' dt 3
plot for [i=1:nseries] datafile index (i-1) using 1:5:6:7 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i).' p99', \
     for [i=1:nseries] datafile index (i-1) using 1:2 with linespoints \
     lc rgb col(i) dt dsh(i) lw 1 pt 6 ps 0.5 notitle
