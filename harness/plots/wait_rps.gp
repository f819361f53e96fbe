# wait: closed-loop requests/s against connections, each request waiting d_ms
# (log-log), beside the lines a model's way of waiting predicts by Little's law:
# N/D (every wait in flight), T/D (a pool of pool_t threads), 1/D (one at a time).
# Data: one block per series; columns x=connections, median, min, max requests/s.
load plotdir.'/common.gp'
if (!exists('w')) w = 1000
set title sprintf('Requests that wait %d ms: requests/s vs connections (median, min-max bars)', d_ms)
set xlabel 'connections, each with one request waiting (log scale)'
set ylabel 'requests/s (log scale)'
set logscale xy
set format y '10^{%L}'
set xrange [0.8:*]
plot for [i=1:nseries] datafile index (i-1) using 1:2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i), \
     x * 1000.0 / d_ms with lines lc rgb '#444444' dt 2 lw 1.5 title 'N/D: every wait in flight', \
     (x < pool_t ? x : pool_t) * 1000.0 / d_ms with lines lc rgb '#999999' dt 3 lw 1.5 \
       title sprintf('min(N,%d)/D: %d threads', pool_t, pool_t), \
     1000.0 / d_ms with lines lc rgb '#bbbbbb' dt 4 lw 1.5 title '1/D: one at a time'
