# db: CPU per GET /db, the server's beside the database's, per model.
# Data rows: "series" colour server(med min max) database(med min max), µs/request.
load plotdir.'/common.gp'
set grid noxtics ytics
set multiplot layout 1,2 title sprintf('CPU per GET /db at %d connections', conns)
set boxwidth 0.7
set xtics rotate by -35 left
set key off
set yrange [0:*]
set format y '%g'
set ylabel 'CPU µs / request'
set title 'the server'
plot datafile using 0:3:2:xtic(1) with boxes lc rgb variable, \
     '' using 0:4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2
set title 'the database (postmaster and backends)'
plot datafile using 0:6:2:xtic(1) with boxes lc rgb variable fs pattern 5, \
     '' using 0:7:(0):($8-$7) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2
unset multiplot
