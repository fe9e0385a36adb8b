// Module clustertools holds the small programs of the one-node test cluster (make
// test-cluster): mkimg, which writes container images without Docker or a registry,
// and pause and fetch, which go into images. It is separate from the operator's
// module so that go-containerregistry stays out of the operator's dependencies.
module github.com/partnerbilling/partner-account-operator/hack/clustertools

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
