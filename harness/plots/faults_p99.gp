# faults: steady load p99 alone and beside a faulty client, per series.
# Data rows: "series" colour baseline(med min max) faults(med min max)
load plotdir.'/common.gp'
set grid noxtics ytics
set title sprintf('Steady %d req/s load: p99 alone and beside a faulty client', rate)
set ylabel 'p99 latency (µs, log scale)'
set logscale y
set format y '10^{%L}'
set yrange [10:*]
set boxwidth 0.38
set xtics rotate by -35 left
set key inside left top
plot datafile using ($0-0.2):3:2:xtic(1) with boxes lc rgb variable notitle, \
     keyentry with boxes lc rgb '#777777' title 'alone', \
     keyentry with boxes lc rgb '#777777' fs pattern 4 title 'beside faults', \
     datafile using ($0-0.2):4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2 notitle, \
     datafile using ($0+0.2):6:2 with boxes lc rgb variable fs pattern 4 notitle, \
     '' using ($0+0.2):7:(0):($8-$7) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2 notitle
