# wait: p99 of an open-loop GET / stream per series, alone (solid) and beside
# waiting connections (hatched).  Data rows: "series" colour alone(median min max)
# beside(median min max).  Vars: subtitle.
load plotdir.'/common.gp'
set grid noxtics ytics
set title "GET / p99, alone and beside waiting requests\n{/*0.8 ".subtitle."}"
set ylabel 'p99 latency (µs, log scale)'
set logscale y
set format y '10^{%L}'
set yrange [10:*]
set boxwidth 0.35
set offsets 0.6, 0.6, 0, 0
set xtics rotate by -35 left
set key inside left top
plot datafile using ($0-0.18):3:2:xtic(1) with boxes lc rgb variable notitle, \
     '' using ($0+0.18):6:2 with boxes lc rgb variable fs pattern 4 notitle, \
     keyentry with boxes lc rgb '#777777' title 'alone', \
     keyentry with boxes lc rgb '#777777' fs pattern 4 title 'beside the waiting connections', \
     '' using ($0-0.18):4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2 notitle, \
     '' using ($0+0.18):7:(0):($8-$7) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2 notitle
