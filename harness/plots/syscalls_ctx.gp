# concurrency: system calls and context switches per request, one bar per series.
# Data rows: "series" colour sc_med sc_min sc_max ctx_med ctx_min ctx_max
load plotdir.'/common.gp'
set grid noxtics ytics
set multiplot layout 1,2 title 'Kernel crossings per request (median, min-max bars)'
set boxwidth 0.7
set yrange [0:*]
set xtics rotate by -35 left
set key off
set title 'system calls per request (perf, own repetition)'
set ylabel 'syscalls / request'
plot datafile using 0:3:2:xtic(1) with boxes lc rgb variable, \
     '' using 0:4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2
set title 'context switches per request (/proc)'
set ylabel 'context switches / request'
plot datafile using 0:6:2:xtic(1) with boxes lc rgb variable, \
     '' using 0:7:(0):($8-$7) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2
unset multiplot
