# concurrency: latency percentiles against connections.  Left: closed loop p50 and
# p99 (they grow with connections by Little's law: more requests queue).  Right:
# open loop at one fixed rate, p99 (what C1 is judged on: same load, more connections).
# Data: one block per series; columns x, p50 (med min max), p99 closed (med min max),
# p99 open (med min max).  panels=2 when no open-loop point was run.
load plotdir.'/common.gp'
if (!exists('panels')) panels = 3
set multiplot layout 1,panels title 'Latency vs connections (percentiles of the merged repetitions, min-max bars)'
set logscale xy
set xlabel 'connections (log)'
set format y '10^{%L}'
set ylabel 'latency (µs, log scale)'
set key off
set title 'closed loop p50'
plot for [i=1:nseries] datafile index (i-1) using 1:2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5
set title 'closed loop p99'
if (panels < 3) { set key outside right top vertical Left reverse samplen 2 font ',10' }
plot for [i=1:nseries] datafile index (i-1) using 1:5:6:7 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5 title (panels < 3 ? word(names, i) : '')
if (panels >= 3) {
    set title sprintf('open loop at %s req/s, p99', rate)
    set key outside right top vertical Left reverse samplen 2 font ',10'
    # The legend names every series, including those with no open-loop point.
    plot for [i=1:nseries] datafile index (i-1) using 1:8:9:10 with yerrorlines \
         lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5 notitle, \
         for [i=1:nseries] keyentry with lines lc rgb col(i) dt dsh(i) lw 2 title word(names, i)
}
unset multiplot
