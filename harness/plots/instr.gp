# instr: user-space instructions per request (callgrind).
# Data rows: "series" colour med min max
load plotdir.'/common.gp'
set grid noxtics ytics
set title 'User-space instructions per GET / (callgrind; start-up subtracted)'
set ylabel 'instructions per request'
set format y '%g'
set yrange [0:*]
set boxwidth 0.7
set xtics rotate by -35 left
set key off
plot datafile using 0:3:2:xtic(1) with boxes lc rgb variable, \
     '' using 0:4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2, \
     '' using 0:3:(sprintf('%.0f', $3)) with labels offset 0,0.8 font ',10'
