# concurrency: closed-loop GET / throughput against connections (log x).
# Data: one block per series; columns x=connections, median, min, max rps.
load plotdir.'/common.gp'
set title 'Closed loop GET /: throughput vs connections (median, min-max bars)'
set xlabel 'concurrent connections (log scale)'
set ylabel 'throughput (thousand requests/s)'
set logscale x
set format y '%g'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($2/1000):($3/1000):($4/1000) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i)
