// Command mkimg writes a container image as a tarball that ctr images import accepts,
// without Docker or a registry: one layer holding the given files at the image's
// root, executable, owned by 65532:65532, and a config that runs as 65532:65532.
//
//	mkimg -o manager.tar -tag localhost/partner-account-operator:test -entrypoint /manager bin/manager
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nonRoot is the user and group the image runs as, distroless's "nonroot".
const nonRoot = 65532

func main() {
	out := flag.String("o", "", "tarball to write")
	tag := flag.String("tag", "", "image reference, e.g. localhost/pause:test")
	entrypoint := flag.String("entrypoint", "", "the image's entrypoint, one of the files")
	flag.Parse()
	if *out == "" || *tag == "" || *entrypoint == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mkimg -o FILE -tag REF -entrypoint /NAME FILE...")
		os.Exit(2)
	}
	if err := write(*out, *tag, *entrypoint, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkimg:", err)
		os.Exit(1)
	}
}

func write(out, tag, entrypoint string, files []string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	layerTar, err := layer(files)
	if err != nil {
		return err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config = v1.Config{
		Entrypoint: []string{entrypoint},
		User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
		WorkingDir: "/",
		Env:        []string{"PATH=/"},
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}

// layer returns a tar of files at the root, each executable and owned by nonRoot.
func layer(files []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{
			Name: filepath.Base(f), Mode: 0o555, Size: int64(len(data)),
			Uid: nonRoot, Gid: nonRoot, Typeflag: tar.TypeReg,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), tw.Close()
}
