# concurrency: syscall mix per model from strace -c -f, stacked shares of all calls.
# Data: a header line (series, syscall names..., other), then one row per series.
load plotdir.'/common.gp'
set grid noxtics ytics
set title 'Syscall mix per model (strace -c -f, its own profile)'
set ylabel 'share of system calls (%)'
set yrange [0:100]
set style data histograms
set style histogram rowstacked
set boxwidth 0.7
set xtics rotate by -35 left
set key outside right top vertical Left reverse noenhanced
mixc = '#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #17becf #bcbd22 #7f7f7f'
plot for [i=2:ncols] datafile using i:xtic(1) title columnheader(i) lc rgb word(mixc, i-1)
