# db: closed-loop throughput of one database route against connections (log x),
# every model with the same --db-conns.  The driver sets `title`.
# Data: one block per series; columns x=connections, median, min, max rps.
load plotdir.'/common.gp'
set title title noenhanced
set xlabel 'concurrent connections (log scale)'
set ylabel 'throughput (thousand requests/s)'
set logscale x
set format y '%g'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($2/1000):($3/1000):($4/1000) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i)
