# wait: what holding N waiting requests costs the server (closed loop).
# Data: one block per series; columns x, threads (med min max), RSS kB (med min
# max), CPU µs per request (med min max).
load plotdir.'/common.gp'
set multiplot layout 1,3 title 'What N waiting requests cost the server (median, min-max bars)'
set logscale x
set xlabel 'connections (log)'
set key off
set title 'threads'
set ylabel 'threads (log)'
set logscale y
plot for [i=1:nseries] datafile index (i-1) using 1:2:3:4 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5
unset logscale y
set title 'resident memory'
set ylabel 'VmRSS (MiB)'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($5/1024):($6/1024):($7/1024) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5
set title 'CPU per request'
set ylabel 'µs per request (log)'
set logscale y
set yrange [*:*]
set key outside right top vertical Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using 1:8:9:10 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5 title word(names, i)
unset multiplot
