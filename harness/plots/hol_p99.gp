# hol: p99 of the cheap requests per series (bars, log y), the heavy requests' p99
# as grey points.  Data rows: "series" colour cheap(med min max) heavy(med min max)
load plotdir.'/common.gp'
set grid noxtics ytics
set title sprintf('Head-of-line blocking: cheap GET / p99 in a mix with 1%% /cpu?us=%d', heavy)
set ylabel 'p99 latency (µs, log scale)'
set logscale y
set format y '10^{%L}'
set yrange [10:*]
set boxwidth 0.7
set xtics rotate by -35 left
set key inside left top
isoff(s) = strstrt(s, '+off') > 0
plot datafile using 0:(isoff(strcol(1)) ? NaN : $3):2:xtic(1) with boxes lc rgb variable notitle, \
     '' using 0:(isoff(strcol(1)) ? $3 : NaN):2 with boxes lc rgb variable fs pattern 4 notitle, \
     keyentry with boxes lc rgb '#777777' title 'cheap p99, work on the loop', \
     keyentry with boxes lc rgb '#777777' fs pattern 4 title 'cheap p99, --offload', \
     '' using 0:4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2 notitle, \
     '' using 0:6 with points pt 7 ps 1.2 lc rgb '#888888' title 'heavy /cpu p99'
