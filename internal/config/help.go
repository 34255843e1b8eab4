package config

import (
	"embed"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// The settings' help is their fields' doc comments, read from the source compiled into the
// binary: one text to keep true, and a help that cannot drift from it.
//
//go:embed config.go auth.go
var sources embed.FS

// Doc is the doc comment of the setting's field, on one line. A field without a comment of its
// own shares the one of the field before it ("FileMode and DirMode are …").
func (s Setting) Doc() string { return s.doc(fieldDocs()) }

func (s Setting) doc(docs map[string]string) string { return docs[s.owner.Name()+"."+s.field] }

// Help is the setting's one-line help: the first sentence of its doc, its default and its
// variable, e.g. "the listen address of the HTTP server: … (default :8081; env VIGIL_HTTP)".
func (s Setting) Help() string { return s.help(fieldDocs()) }

// help is Help with the doc comments already read, for many settings at once.
func (s Setting) help(docs map[string]string) string {
	def := s.String()
	if def == "" {
		def = `""`
	}
	return summary(s.doc(docs)) + " (default " + def + "; env " + s.Env() + ")"
}

// fieldDocs maps "Type.Field" to the field's doc comment for the structs of the embedded
// sources. Parsing them takes about a millisecond.
func fieldDocs() map[string]string {
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range []string{"config.go", "auth.go"} {
		src, err := sources.ReadFile(name)
		if err != nil {
			continue
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			prev := ""
			for _, field := range st.Fields.List {
				doc := strings.Join(strings.Fields(field.Doc.Text()), " ")
				if doc == "" {
					doc = prev
				}
				for _, id := range field.Names {
					docs[ts.Name.Name+"."+id.Name] = doc
				}
				prev = doc
			}
			return false
		})
	}
	return docs
}

// summary is the first sentence of a doc comment without its subject: "HTTP is the listen
// address …" becomes "the listen address …".
func summary(doc string) string {
	if i := strings.Index(doc, ". "); i >= 0 {
		doc = doc[:i]
	}
	doc = strings.TrimSuffix(doc, ".")
	// Go doc comments start with the field's name: drop it, and the verb "is" or "are" after it.
	if name, rest, ok := strings.Cut(doc, " "); ok && name[0] >= 'A' && name[0] <= 'Z' {
		doc = rest
	}
	for _, verb := range []string{"is ", "are "} {
		doc = strings.TrimPrefix(doc, verb)
	}
	return doc
}
