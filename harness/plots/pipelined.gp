# concurrency: throughput with pipelined requests.  Data rows: "series" colour med min max
load plotdir.'/common.gp'
set grid noxtics ytics
set title sprintf('Pipelined GET / throughput (%s)', subtitle)
set ylabel 'throughput (thousand requests/s)'
set format y '%g'
set yrange [0:*]
set boxwidth 0.7
set xtics rotate by -35 left
set key off
plot datafile using 0:($3/1000):2:xtic(1) with boxes lc rgb variable, \
     '' using 0:($4/1000):(0):(($5-$4)/1000) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2
