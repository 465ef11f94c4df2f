// Command k8scheck validates the Kubernetes manifests of deploy/k8s offline,
// as rendered by kustomize: every object is decoded strictly into the typed
// structs of k8s.io/api (unknown fields, wrong types and unknown kinds are
// refused), then checked against the house rules (rules.go, netpol.go).
//
//	k8scheck [-name NAME] [-help-dir DIR] [-self-contained] [-production] FILE|-
//
// It prints the objects per kind, then each refusal, and exits 1 on any.
// Test tooling only: the product stays C.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type options struct {
	helpDir       string // <binary>.txt: each Tally process's --help
	selfContained bool   // every referenced ConfigMap and Secret is rendered too
	production    bool   // production's own rules (no Secret, Secure cookies)
}

func main() {
	var opt options
	name := flag.String("name", "manifests", "what the input is, for the output (an overlay's name)")
	flag.StringVar(&opt.helpDir, "help-dir", "", "folder of <binary>.txt files, each a Tally process's --help: every TALLY_* name and flag given to it must be one of its options")
	flag.BoolVar(&opt.selfContained, "self-contained", false, "every ConfigMap and Secret referenced must be rendered too")
	flag.BoolVar(&opt.production, "production", false, "production rules: no Secret in the manifests, no insecure cookies")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: k8scheck [flags] FILE|-")
		os.Exit(2)
	}
	var data []byte
	var err error
	if flag.Arg(0) == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(flag.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8scheck:", err)
		os.Exit(2)
	}
	objs, errs := decodeAll(data)
	fmt.Printf("%s: %d objects: %s\n", *name, len(objs), countKinds(objs))
	if len(objs) == 0 && len(errs) == 0 {
		errs = append(errs, "no object in the input")
	}
	if len(errs) == 0 {
		r := newRules(objs, opt)
		r.check()
		for _, line := range r.notes {
			fmt.Printf("%s: %s\n", *name, line)
		}
		errs = r.errs
	}
	for _, e := range errs {
		fmt.Printf("%s: REFUSED %s\n", *name, e)
	}
	if len(errs) > 0 {
		fmt.Printf("%s: %d refusal(s)\n", *name, len(errs))
		os.Exit(1)
	}
	fmt.Printf("%s: every object decodes strictly into k8s.io/api and keeps the house rules\n", *name)
}

func countKinds(objs []object) string {
	n := map[string]int{}
	for _, o := range objs {
		n[o.kind]++
	}
	kinds := make([]string, 0, len(n))
	for k := range n {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, n[k])
	}
	return strings.Join(parts, ", ")
}
