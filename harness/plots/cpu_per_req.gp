# concurrency: server CPU time per request at a fixed offered rate, user (solid) and
# kernel (hatched) stacked.  Data rows: "series" colour user_us sys_us total_min total_max
load plotdir.'/common.gp'
set grid noxtics ytics
set title sprintf("Server CPU per request (%s)", subtitle)
set ylabel 'CPU time per request (µs)'
set yrange [0:*]
set boxwidth 0.7
set xtics rotate by -35 left
set key inside left top
plot datafile using 0:($3+$4):2:xtic(1) with boxes lc rgb variable fs pattern 4 border lc rgb '#333333' notitle, \
     '' using 0:3:2 with boxes lc rgb variable fs solid 0.85 notitle, \
     keyentry with boxes lc rgb '#777777' fs pattern 4 title 'kernel (sys)', \
     keyentry with boxes lc rgb '#777777' fs solid 0.85 title 'user', \
     '' using 0:5:(0):($6-$5) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2 title 'min-max of total'
