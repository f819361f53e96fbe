# hol and blocking: p99 of the cheap requests per series (bars, log y) in a mix with a
# few long ones, the long requests' own p99 as grey points, and a dashed line at
# half the long request's time (the rule's threshold).  Data rows:
# "series" colour cheap(value min max) long(value min max).
# Vars: title, longname (legend of the long requests), long (their µs), half (µs).
load plotdir.'/common.gp'
set grid noxtics ytics
set title title
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
     keyentry with boxes lc rgb '#777777' title 'cheap p99, long requests on the loop', \
     keyentry with boxes lc rgb '#777777' fs pattern 4 title 'cheap p99, --offload', \
     '' using 0:4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.2 notitle, \
     '' using 0:6 with points pt 7 ps 1.2 lc rgb '#888888' title longname.' p99', \
     half with lines lc rgb '#555555' dt 2 title 'half the long request (the rule)'
