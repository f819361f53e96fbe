# scale: saturation throughput and CPU per request, one loop against two.
# Data rows: "series" colour rps(med min max) cpu_us_per_req(med min max)
load plotdir.'/common.gp'
set grid noxtics ytics
set multiplot layout 1,2 title 'One event loop against two (--reactors 2; node: cluster)'
set boxwidth 0.7
set xtics rotate by -35 left
set key off
isr2(s) = strstrt(s, '+r') > 0
set title 'saturation throughput (closed loop)'
set ylabel 'thousand requests/s'
set format y '%g'
set yrange [0:*]
plot datafile using 0:(isr2(strcol(1)) ? NaN : $3/1000):2:xtic(1) with boxes lc rgb variable, \
     '' using 0:(isr2(strcol(1)) ? $3/1000 : NaN):2 with boxes lc rgb variable fs pattern 5, \
     '' using 0:($4/1000):(0):(($5-$4)/1000) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2
set title sprintf('server CPU per request at %d req/s', rate)
set ylabel 'CPU µs / request'
set format y '%g'
plot datafile using 0:(isr2(strcol(1)) ? NaN : $6):2:xtic(1) with boxes lc rgb variable, \
     '' using 0:(isr2(strcol(1)) ? $6 : NaN):2 with boxes lc rgb variable fs pattern 5, \
     '' using 0:7:(0):($8-$7) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2
unset multiplot
