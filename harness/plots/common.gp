# Loaded first by every figure script.  The driver (harness/lib/plots.py) sets:
#   datafile, out, fmt ('svg', 'pngcairo' or 'png'), plotdir, and for line figures
#   names, colors, dashes (space-separated, one word per series) and nseries.
if (!exists('w')) w = 900
if (!exists('h')) h = 560
if (fmt eq 'svg') {
    set terminal svg size w,h dynamic enhanced font 'DejaVu Sans,12' background rgb 'white'
} else {
    if (fmt eq 'pngcairo') {
        set terminal pngcairo size w,h enhanced font 'DejaVu Sans,11' background rgb 'white'
    } else {
        set terminal png size w,h enhanced background rgb 'white'
    }
}
set output out
set datafile missing 'NaN'
set grid back lc rgb '#e0e0e0' lw 1
set border 3 lc rgb '#333333'
set tics nomirror
set xtics noenhanced   # tic labels come from data (series names): print them as they are
set key outside right top vertical Left reverse noautotitle samplen 2.5 spacing 1.1
set style fill solid 0.85 border lc rgb '#333333'
# Series helpers: colour, dash type and point type of series i (1-based).
col(i) = word(colors, i)
dsh(i) = word(dashes, i) + 0
