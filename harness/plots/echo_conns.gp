# echo: messages/s against connections, small messages.  Data: one block per series;
# columns connections, messages/s (med min max).
load plotdir.'/common.gp'
set title sprintf('Echo, %d-byte messages: messages/s vs connections (median, min-max bars)', size)
set xlabel 'connections (log scale)'
set ylabel 'thousand messages/s'
set logscale x
set format y '%g'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($2/1000):($3/1000):($4/1000) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i)
