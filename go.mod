module github.com/gostub/gostub

go 1.26.0

require (
	github.com/sirupsen/logrus v1.10.2
	golang.org/x/sys v0.50.0
)

require golang.org/x/arch v0.33.0
