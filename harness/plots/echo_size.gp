# echo: MB/s and messages/s against message size.  Data: one block per series;
# columns size, MB/s (med min max), messages/s (med min max).
load plotdir.'/common.gp'
set multiplot layout 1,2 title sprintf('Echo on %d connections (median, min-max bars)', conns)
set logscale x 2
set xlabel 'message size (bytes, log scale)'
set format x '%.0b%B'
set key off
set title 'bytes echoed'
set ylabel 'MB/s (10^6 bytes/s)'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7
set title 'messages echoed'
set ylabel 'messages/s (log scale)'
set logscale y
set format y '10^{%L}'
set yrange [*:*]
set key outside right top vertical Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using 1:5:6:7 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.7 title word(names, i)
unset multiplot
