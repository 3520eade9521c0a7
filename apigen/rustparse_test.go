package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseOne(t *testing.T, src string) rsItem {
	t.Helper()
	items, err := parseRust(src)
	require.NoError(t, err)
	require.Len(t, items, 1, "items of %s", src)
	return items[0]
}

func fieldTypes(fields []rsField) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		out[f.Name] = typeText(f.Type)
	}
	return out
}

func TestParseStruct(t *testing.T) {
	it := parseOne(t, `
/// Doc comment.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Config<'a, T: Clone, const N: usize> where T: Send {
    #[serde(default = "default_x")]
    pub x: Option<Box<[u16]>>,
    #[cfg(all(target_arch = "x86_64", feature = "tdx"))]
    #[serde(default)]
    pub(crate) tdx: bool,
    map: HashMap<String, HashMap<&'a str, Wrapping<u64>>>,
    arr: [u8; N],
    f: Box<dyn Fn(u8) -> T + Send>,
}`)
	assert.Equal(t, rsStruct, it.Kind)
	assert.Equal(t, "Config", it.Name)
	assert.True(t, it.Pub)
	assert.Equal(t, "named", it.Form)
	assert.Equal(t, []string{"T", "N"}, it.Generics, "lifetimes are no type parameters")
	assert.Equal(t, []string{"Clone", "Debug", "Deserialize", "Serialize"}, derives(it.Attrs))
	assert.True(t, hasAttr(it.Attrs, "serde_with::skip_serializing_none"))
	assert.Equal(t, map[string]string{
		"x":   "Option<Box<[u16]>>",
		"tdx": "bool",
		"map": "HashMap<String, HashMap<&'a str, Wrapping<u64>>>",
		"arr": "[u8; N]",
		"f":   "Box<dyn Fn(u8) -> T + Send>",
	}, fieldTypes(it.Fields))
	cfg, err := attrCfg(it.Fields[1].Attrs)
	require.NoError(t, err)
	assert.Equal(t, `all(target_arch = "x86_64", feature = "tdx")`, cfg.text())
	assert.Equal(t, []string{"tdx"}, cfg.features())
	metas, _, err := serdeMetas(it.Attrs)
	require.NoError(t, err)
	require.Len(t, metas, 2)
	assert.Equal(t, "deny_unknown_fields", metas[0].Name)
	assert.Equal(t, "camelCase", metas[1].str())
}

func TestParseTupleAndUnitStructs(t *testing.T) {
	items, err := parseRust(`
pub struct DeviceTree(HashMap<String, DeviceNode>);
struct Pair(pub u8, #[serde(skip)] String);
pub struct VmBoot;
`)
	require.NoError(t, err)
	require.Len(t, items, 3)
	assert.Equal(t, "tuple", items[0].Form)
	assert.Equal(t, map[string]string{"0": "HashMap<String, DeviceNode>"}, fieldTypes(items[0].Fields))
	assert.Equal(t, map[string]string{"0": "u8", "1": "String"}, fieldTypes(items[1].Fields))
	assert.Equal(t, "serde", items[1].Fields[1].Attrs[0].Path)
	assert.Equal(t, "unit", items[2].Form)
}

func TestParseEnum(t *testing.T) {
	it := parseOne(t, `
#[derive(Default, Deserialize)]
#[serde(tag = "type")]
pub enum Resource {
    #[default]
    #[serde(rename = "pio", alias = "port_io")]
    PioAddressRange { base: u16, size: u16 },
    LegacyIrq(u32),
    #[cfg(feature = "kvm")]
    KvmMemSlot(u32, Option<u64>),
    Off = 3,
    Last,
}`)
	assert.Equal(t, rsEnum, it.Kind)
	require.Len(t, it.Variants, 5)
	v := it.Variants
	assert.Equal(t, "named", v[0].Form)
	assert.Equal(t, map[string]string{"base": "u16", "size": "u16"}, fieldTypes(v[0].Fields))
	assert.True(t, hasAttr(v[0].Attrs, "default"))
	assert.Equal(t, "tuple", v[1].Form)
	assert.Equal(t, map[string]string{"0": "u32", "1": "Option<u64>"}, fieldTypes(v[2].Fields))
	assert.Equal(t, "unit", v[3].Form, "a discriminant is skipped")
	assert.Equal(t, "Last", v[4].Name)
}

func TestParseFunctionsConstsAndImpls(t *testing.T) {
	items, err := parseRust(`
pub const DEFAULT_MAX_PHYS_BITS: u8 = 46;
static NAMES: LazyLock<Vec<&str>> = LazyLock::new(|| { let v = vec!["a"]; v });
pub const fn default_bits() -> u8 { DEFAULT_MAX_PHYS_BITS }
async unsafe fn nothing();
impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D>(d: D) -> Result<Self, D::Error> where D: Deserializer<'de> { todo!() }
}
impl VmSendMigrationData {
    pub const SYNTAX: &'static str = "x";
    fn default_connections() -> NonZeroU32 { NonZeroU32::new(1).unwrap() }
}
impl<T: GetHandler + PutHandler + Sync> HttpVmAction for T {}
unsafe impl Send for Foo {}
`)
	require.NoError(t, err)
	require.Len(t, items, 8)
	assert.Equal(t, rsConst, items[0].Kind)
	assert.Equal(t, "u8", typeText(items[0].Type))
	assert.Equal(t, "46", typeText(items[0].Value))
	assert.Equal(t, rsConst, items[1].Kind, "a static")
	assert.Equal(t, "LazyLock<Vec<&str>>", typeText(items[1].Type))
	assert.Equal(t, rsFn, items[2].Kind)
	assert.Equal(t, "default_bits", items[2].Name)
	assert.Equal(t, "u8", typeText(items[2].Type))
	assert.Equal(t, "DEFAULT_MAX_PHYS_BITS", typeText(items[2].Value))
	assert.Equal(t, "nothing", items[3].Name)
	assert.Nil(t, items[3].Value, "no body")

	impl := items[4]
	assert.Equal(t, rsImpl, impl.Kind)
	assert.Equal(t, "Deserialize", impl.Trait)
	assert.Equal(t, "MacAddr", impl.Name)
	require.Len(t, impl.Items, 1)
	assert.Equal(t, "Result<Self, D::Error>", typeText(impl.Items[0].Type), "the return type stops at where")

	inherent := items[5]
	assert.Equal(t, "", inherent.Trait)
	assert.Equal(t, "VmSendMigrationData", inherent.Name)
	require.Len(t, inherent.Items, 2)
	assert.Equal(t, "SYNTAX", inherent.Items[0].Name)
	assert.Equal(t, "default_connections", inherent.Items[1].Name)
	assert.Equal(t, "HttpVmAction", items[6].Trait)
	assert.Equal(t, "T", items[6].Name)
	assert.Equal(t, "Send", items[7].Trait)
}

func TestParseUseTrees(t *testing.T) {
	items, err := parseRust(`
use std::collections::{HashMap, hash_map};
pub use crate::vm_config::{self, NetConfig as Net, nested::{A, b::C}};
use super::*;
use ::serde::Deserialize;
`)
	require.NoError(t, err)
	var got []string
	for _, it := range items {
		require.Equal(t, rsUseDecl, it.Kind)
		for _, u := range it.Uses {
			got = append(got, strings.Join(u.Path, "::")+" as "+u.Name)
		}
	}
	assert.Equal(t, []string{
		"std::collections::HashMap as HashMap",
		"std::collections::hash_map as hash_map",
		"crate::vm_config as vm_config",
		"crate::vm_config::NetConfig as Net",
		"crate::vm_config::nested::A as A",
		"crate::vm_config::nested::b::C as C",
		"super as *",
		"serde::Deserialize as Deserialize",
	}, got)
	assert.True(t, items[1].Pub)
}

func TestParseModulesMacrosAndSkippedItems(t *testing.T) {
	items, err := parseRust(`
#![allow(dead_code)]
mod http_endpoint;
#[cfg(test)]
mod tests { struct Hidden; }
macro_rules! vm_action_put_handler {
    ($action:ty) => { impl PutHandler for $action { fn h() {} } };
}
#[cfg(feature = "guest_debug")]
vm_action_put_handler!(VmCoredump);
trait EndpointHandler { fn put(&self) -> u8 { 0 } }
extern crate libc;
union U { a: u8 }
struct After;
`)
	require.NoError(t, err)
	var kinds []rsItemKind
	for _, it := range items {
		kinds = append(kinds, it.Kind)
	}
	assert.Equal(t, []rsItemKind{rsMod, rsMod, rsMacroRules, rsMacroCall, rsStruct}, kinds, "trait, extern crate and union are skipped")
	assert.Nil(t, items[0].Items)
	require.Len(t, items[1].Items, 1)
	assert.Equal(t, "Hidden", items[1].Items[0].Name)
	cfg, err := attrCfg(items[1].Attrs)
	require.NoError(t, err)
	assert.True(t, cfg.isTest())
	assert.Equal(t, "vm_action_put_handler", items[2].Name)
	assert.Equal(t, map[string]methodImpl{"PUT": {serves: true, body: "none"}}, macroHandlers(items[2].Value))
	assert.Equal(t, "vm_action_put_handler", items[3].Name)
	assert.Equal(t, "VmCoredump", typeText(items[3].Value))
	assert.Equal(t, "After", items[4].Name)
}

func TestParseRefusesBrokenItems(t *testing.T) {
	for src, want := range map[string]string{
		"struct A { x: u8":   "unclosed",
		"struct A { x }":     `field x: line 1: want ":"`,
		"struct A { x: }":    "field x: line 1: no type",
		"enum E { A(u8 }":    "unbalanced",
		"fn f { }":           "want its parameters",
		"impl Foo":           "impl without a body",
		"const X: u8 = 1":    `want ";"`,
		"mod m { struct S; ": "unclosed block",
	} {
		_, err := parseRust(src)
		assert.ErrorContains(t, err, want, src)
	}
}

func TestMetasAndCfg(t *testing.T) {
	toks, err := lexRust(`all(target_arch = "x86_64", not(feature = "mshv"), any(feature = "kvm", feature = "igvm")), test`)
	require.NoError(t, err)
	metas, err := parseMetas(toks)
	require.NoError(t, err)
	require.Len(t, metas, 2)
	assert.Equal(t, `all(target_arch = "x86_64", not(feature = "mshv"), any(feature = "kvm", feature = "igvm"))`, cfgText(metas[0]))
	assert.Equal(t, []string{"igvm", "kvm"}, cfgFeatures(metas[0]), "not(…) requires no feature")
	set := cfgSet{metas[0]}.and(cfgSet{metas[1]}).and(cfgSet{metas[1]})
	assert.Len(t, set, 2, "and() keeps one of each")
	assert.True(t, set.isTest())
	assert.Equal(t, "", cfgSet(nil).text())

	toks, err = lexRust(`rename(serialize = "out", deserialize = "in"), default = "path::f", skip`)
	require.NoError(t, err)
	metas, err = parseMetas(toks)
	require.NoError(t, err)
	assert.Equal(t, serdeRename{de: "in", ser: "out"}, readRename(metas[0]))
	assert.Equal(t, "path::f", metas[1].str())
	assert.False(t, metas[2].IsList)

	_, err = parseMetas([]rsToken{{Kind: rsString, Text: `"x"`, Value: "x", Line: 3}})
	assert.ErrorContains(t, err, "line 3: want a meta item")
}

func TestSerdeCfgAttr(t *testing.T) {
	it := parseOne(t, `struct S { #[cfg_attr(feature = "x", serde(rename = "y"))] #[serde(default)] a: u8 }`)
	metas, conditional, err := serdeMetas(it.Fields[0].Attrs)
	require.NoError(t, err)
	require.Len(t, metas, 2)
	assert.Equal(t, "rename", metas[0].Name)
	assert.Equal(t, "default", metas[1].Name)
	assert.Equal(t, []string{`feature = "x"`}, conditional)
}

func TestApplyRenameRule(t *testing.T) {
	for _, tc := range []struct {
		rule, name string
		variant    bool
		want       string
	}{
		{"", "boot_vcpus", false, "boot_vcpus"},
		{"lowercase", "OnDemand", true, "ondemand"},
		{"UPPERCASE", "OnDemand", true, "ONDEMAND"},
		{"PascalCase", "OnDemand", true, "OnDemand"},
		{"camelCase", "OnDemand", true, "onDemand"},
		{"snake_case", "OnDemand", true, "on_demand"},
		{"SCREAMING_SNAKE_CASE", "OnDemand", true, "ON_DEMAND"},
		{"kebab-case", "OnDemand", true, "on-demand"},
		{"SCREAMING-KEBAB-CASE", "OnDemand", true, "ON-DEMAND"},
		{"lowercase", "boot_vcpus", false, "boot_vcpus"},
		{"UPPERCASE", "boot_vcpus", false, "BOOT_VCPUS"},
		{"PascalCase", "boot_vcpus", false, "BootVcpus"},
		{"camelCase", "boot_vcpus", false, "bootVcpus"},
		{"kebab-case", "boot_vcpus", false, "boot-vcpus"},
		{"SCREAMING-KEBAB-CASE", "boot_vcpus", false, "BOOT-VCPUS"},
	} {
		got, err := applyRenameRule(tc.rule, tc.name, tc.variant)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %s", tc.rule, tc.name)
	}
	_, err := applyRenameRule("Title Case", "x", false)
	assert.ErrorContains(t, err, `unknown rename_all rule "Title Case"`)
}
