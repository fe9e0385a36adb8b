// Command benchplot draws the PNG of make bench: PartnerAccounts Ready over time,
// against the bound (N ÷ the rate limit, or the time to create the objects).
//
//	benchplot -in ready.csv -out docs/benchmarks-ready-1000.png -accounts 1000 -bound 100.5
//
// The input is CSV with a header and two columns: seconds since the first create,
// and how many accounts were Ready then. It is its own module so that gonum/plot
// and what it brings (fonts, PDF, SVG, LaTeX) stay out of the operator's module.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("benchplot", flag.ContinueOnError)
	in := fs.String("in", "", "CSV of seconds,ready")
	out := fs.String("out", "", "PNG to write")
	accounts := fs.Int("accounts", 0, "how many accounts were created")
	bound := fs.Float64("bound", 0, "the bound in seconds: no operator can have them all Ready sooner")
	title := fs.String("title", "", "the plot's title")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *accounts <= 0 || *bound <= 0 {
		return errors.New("-in, -out, -accounts and -bound are required")
	}
	ready, err := readCSV(*in)
	if err != nil {
		return err
	}

	p := plot.New()
	p.Title.Text = *title
	p.X.Label.Text = "seconds since the first create"
	p.Y.Label.Text = "PartnerAccounts Ready"
	p.Y.Min, p.X.Min = 0, 0
	p.X.Max = 1.05 * max(ready[len(ready)-1].X, 1.1**bound)
	p.Legend.Top, p.Legend.Left = true, true

	measured, err := plotter.NewLine(ready)
	if err != nil {
		return err
	}
	measured.Width = vg.Points(2)
	measured.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	n := float64(*accounts)
	ideal, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: *bound, Y: n}})
	if err != nil {
		return err
	}
	ideal.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	limit, err := plotter.NewLine(plotter.XYs{{X: 1.1 * *bound, Y: 0}, {X: 1.1 * *bound, Y: n}})
	if err != nil {
		return err
	}
	limit.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(plotter.NewGrid(), measured, ideal, limit)
	p.Legend.Add("measured", measured)
	p.Legend.Add(fmt.Sprintf("the bound, %.0f s", *bound), ideal)
	p.Legend.Add("1.1× the bound", limit)
	return p.Save(8*vg.Inch, 4.5*vg.Inch, *out)
}

// readCSV reads the points, skipping the header.
func readCSV(path string) (plotter.XYs, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	if _, err := r.Read(); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	var xys plotter.XYs
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		x, errX := strconv.ParseFloat(rec[0], 64)
		y, errY := strconv.ParseFloat(rec[1], 64)
		if err := errors.Join(errX, errY); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		xys = append(xys, plotter.XY{X: x, Y: y})
	}
	if len(xys) == 0 {
		return nil, fmt.Errorf("%s: no points", path)
	}
	return xys, nil
}
