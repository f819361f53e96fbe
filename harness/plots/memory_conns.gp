# concurrency: server memory and threads against connections (closed loop).
# Data: one block per series; columns x, rss kB (med min max), kernel kB (med min
# max: KernelStack + TCP socket memory, system-wide change), threads (med min max).
load plotdir.'/common.gp'
set multiplot layout 1,3 title 'What connections cost the server (median, min-max bars)'
set logscale x
set xlabel xlab
set key off
set title 'resident memory'
set ylabel 'VmRSS (MiB)'
set yrange [0:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($2/1024):($3/1024):($4/1024) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5
set title 'kernel memory (stacks + TCP buffers)'
set ylabel 'change (MiB)'
set yrange [*:*]
plot for [i=1:nseries] datafile index (i-1) using 1:($5/1024):($6/1024):($7/1024) with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5
set title 'threads'
set ylabel 'threads'
set logscale y
set key outside right top vertical Left reverse samplen 2 font ',10'
plot for [i=1:nseries] datafile index (i-1) using 1:8:9:10 with yerrorlines \
     lc rgb col(i) dt dsh(i) lw 2 pt 7 ps 0.5 title word(names, i)
unset multiplot
