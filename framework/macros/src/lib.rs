//! `#[interface]` and `#[derive(Wire)]` for `rustkext-abi` (re-exported there; see its README).
//!
//! The macros only enumerate: every fact about a type (its scalar count, struct size, layout,
//! validation) is the type's `Wire` implementation, every check is `rustkext_abi`'s, and the
//! limits are `const` assertions, so an error names the method and the limit.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Attribute, Data, DeriveInput, Error, Fields, FnArg, GenericArgument, ItemTrait, LitInt,
    LitStr, Pat, PathArguments, ReturnType, TraitItem, TraitItemFn, Type,
};

/// Declares a user-client interface. See `rustkext_abi`'s README for the full description.
///
/// ```ignore
/// #[rustkext_abi::interface(name = "OpenWatch")]
/// pub trait OpenWatch {
///     #[selector(0)] #[query]
///     fn ping(&self, caller: Caller<'_, Anyone>, value: u64) -> u64;
///     #[selector(1)]
///     fn watch(&self, caller: Caller<'_, Admin>, prefix: PathPrefix<256>) -> Result<(), Refusal>;
/// }
/// ```
#[proc_macro_attribute]
pub fn interface(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut name: Option<LitStr> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error("expected `name = \"...\"`"))
        }
    });
    parse_macro_input!(args with parser);
    let item = parse_macro_input!(item as ItemTrait);
    let name = match name {
        Some(n) => n,
        None => LitStr::new(&item.ident.to_string(), item.ident.span()),
    };
    match expand_interface(name, item) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Implements `rustkext_abi::Wire` for a `#[repr(C)]` struct of fixed-width fields
/// (`u8`..`u64`, `i8`..`i64` and arrays of them): a struct input or output of exactly its size.
/// Padding is a compile error (nothing uninitialised may reach user space), and so are
/// `usize`, `isize` and pointers (not `Field`s: their width differs between a Rosetta client and
/// the kernel).
#[proc_macro_derive(Wire)]
pub fn derive_wire(item: TokenStream) -> TokenStream {
    let input = parse_macro_input!(item as DeriveInput);
    match expand_wire(input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

// ---------------------------------------------------------------- #[derive(Wire)]

fn has_repr_c(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        let mut c = false;
        if a.path().is_ident("repr") {
            let _ = a.parse_nested_meta(|m| {
                c |= m.path.is_ident("C");
                Ok(())
            });
        }
        c
    })
}

fn expand_wire(input: DeriveInput) -> syn::Result<Tokens> {
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(Error::new(input.generics.span(), "#[derive(Wire)]: generic structs are not supported"));
    }
    if !has_repr_c(&input.attrs) {
        return Err(Error::new(ident.span(), "#[derive(Wire)] needs #[repr(C)]: the layout is the ABI"));
    }
    let Data::Struct(data) = &input.data else {
        return Err(Error::new(ident.span(), "#[derive(Wire)] is for structs"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(Error::new(ident.span(), "#[derive(Wire)] needs named fields"));
    };
    let abi = quote!(::rustkext_abi);
    let names: Vec<_> = fields.named.iter().filter_map(|f| f.ident.clone()).collect();
    let types: Vec<_> = fields.named.iter().map(|f| f.ty.clone()).collect();
    let type_names: Vec<String> = types.iter().map(|t| t.to_token_stream().to_string()).collect();
    let field_names: Vec<String> = names.iter().map(ToString::to_string).collect();
    let name = ident.to_string();
    let padding = format!("#[derive(Wire)] {name}: the struct has padding (its size is not the sum of its fields')");
    let field_checks = types.iter().map(|t| {
        quote_spanned!(t.span()=> const _: usize = <#t as #abi::Field>::SIZE;)
    });
    Ok(quote! {
        const _: () = {
            #(#field_checks)*
            assert!(
                ::core::mem::size_of::<#ident>() == 0 #(+ <#types as #abi::Field>::SIZE)*,
                #padding
            );
            assert!(::core::mem::size_of::<#ident>() <= #abi::MAX_STRUCT_BYTES as usize);
        };
        impl #abi::Wire for #ident {
            const SCALARS: u32 = 0;
            const BYTES: u32 = ::core::mem::size_of::<#ident>() as u32;
            const LAYOUT: #abi::Layout = #abi::Layout {
                name: #name,
                scalars: 0,
                bytes: ::core::mem::size_of::<#ident>() as u32,
                fields: &[#(#abi::FieldLayout {
                    name: #field_names,
                    ty: #type_names,
                    offset: ::core::mem::offset_of!(#ident, #names) as u32,
                    size: <#types as #abi::Field>::SIZE as u32,
                }),*],
            };
            fn decode(_: &[u64], bytes: &[u8]) -> ::core::result::Result<Self, #abi::Refusal> {
                if bytes.len() != ::core::mem::size_of::<#ident>() {
                    return Err(#abi::Refusal::BAD_ARGUMENT);
                }
                let mut at = 0usize;
                Ok(#ident { #(#names: <#types as #abi::Field>::read(bytes, &mut at)?,)* })
            }
            fn encode(&self, _: &mut [u64], bytes: &mut [u8]) {
                // One check for every field's (the dispatcher gives exactly the size).
                let Some(bytes) = bytes.get_mut(..::core::mem::size_of::<#ident>()) else {
                    return;
                };
                let mut at = 0usize;
                #(<#types as #abi::Field>::write(&self.#names, bytes, &mut at);)*
                let _ = at;
            }
            fn example() -> Self {
                #ident { #(#names: <#types as #abi::Field>::ZERO,)* }
            }
        }
    })
}

// ---------------------------------------------------------------- #[interface]

/// What a method declares.
struct Method {
    ident: syn::Ident,
    selector: u32,
    query: bool,
    builtin: Option<syn::Ident>,
    privilege: Type,
    args: Vec<(syn::Ident, Type)>,
    /// The `T` of `-> T` or `-> Result<T, Refusal>`; `()` when none.
    output: Type,
    fallible: bool,
    docs: Vec<Attribute>,
    span: Span,
}

fn camel(ident: &syn::Ident) -> String {
    ident
        .to_string()
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// `Caller<'_, P>` → `P`.
fn privilege_of(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Caller" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    args.args.iter().rev().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

/// `Result<T, Refusal>` → `T`.
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 2 => Some(t.clone()),
        _ => None,
    }
}

fn take_attrs(f: &mut TraitItemFn) -> syn::Result<(Option<u32>, bool, Option<syn::Ident>)> {
    let (mut selector, mut query, mut builtin) = (None, false, None);
    let mut kept = Vec::new();
    for attr in f.attrs.drain(..) {
        if attr.path().is_ident("selector") {
            let n: LitInt = attr.parse_args()?;
            selector = Some(n.base10_parse::<u32>()?);
        } else if attr.path().is_ident("query") {
            query = true;
        } else if attr.path().is_ident("builtin") {
            builtin = Some(attr.parse_args::<syn::Ident>()?);
        } else {
            kept.push(attr);
        }
    }
    f.attrs = kept;
    Ok((selector, query, builtin))
}

fn method(f: &mut TraitItemFn) -> syn::Result<Method> {
    let span = f.sig.ident.span();
    let (selector, query, builtin) = take_attrs(f)?;
    let selector = selector.ok_or_else(|| Error::new(span, "every method of an interface needs #[selector(n)]"))?;
    let sig = &f.sig;
    if !sig.generics.params.is_empty() || sig.asyncness.is_some() || sig.unsafety.is_some() {
        return Err(Error::new(span, "interface methods are plain: no generics, async or unsafe"));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => return Err(Error::new(span, "the first parameter must be &self")),
    }
    let caller_err = || Error::new(span, "the second parameter must be `caller: Caller<'_, Anyone | Observer | Admin>`: its type is the method's privilege");
    let privilege = match inputs.next() {
        Some(FnArg::Typed(t)) => privilege_of(&t.ty).ok_or_else(caller_err)?,
        _ => return Err(caller_err()),
    };
    let mut args = Vec::new();
    for (i, input) in inputs.enumerate() {
        let FnArg::Typed(t) = input else { return Err(Error::new(input.span(), "unexpected receiver")) };
        let ident = match &*t.pat {
            Pat::Ident(p) => p.ident.clone(),
            _ => format_ident!("arg{i}"),
        };
        args.push((ident, (*t.ty).clone()));
    }
    let (output, fallible) = match &sig.output {
        ReturnType::Default => (syn::parse_quote!(()), false),
        ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(ok) => (ok, true),
            None => ((**ty).clone(), false),
        },
    };
    let docs = f.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
    Ok(Method { ident: sig.ident.clone(), selector, query, builtin, privilege, args, output, fallible, docs, span })
}

fn builtin_body(m: &Method) -> syn::Result<syn::Block> {
    let Some(b) = &m.builtin else { unreachable!("called for builtins") };
    match b.to_string().as_str() {
        // The framework's services, through the caller (see `rustkext_abi::Caller`).
        "client_info" => Ok(syn::parse_quote!({ caller.client_info() })),
        "cancel_unload" => Ok(syn::parse_quote!({ caller.cancel_unload(); })),
        other => Err(Error::new(b.span(), format!("unknown builtin `{other}`: client_info, cancel_unload"))),
    }
}

fn expand_interface(name: LitStr, mut item: ItemTrait) -> syn::Result<Tokens> {
    let abi = quote!(::rustkext_abi);
    let trait_ident = item.ident.clone();
    let vis = item.vis.clone();
    let mut methods = Vec::new();
    for entry in item.items.iter_mut() {
        let TraitItem::Fn(f) = entry else {
            return Err(Error::new(entry.span(), "an interface holds methods only (it is used as `dyn Trait`)"));
        };
        let m = method(f)?;
        if m.builtin.is_some() {
            if f.default.is_some() {
                return Err(Error::new(m.span, "a builtin's body is the framework's"));
            }
            f.default = Some(builtin_body(&m)?);
            // The parameter is used by the default body.
            if let Some(FnArg::Typed(t)) = f.sig.inputs.iter_mut().nth(1) {
                *t.pat = syn::parse_quote!(caller);
            }
        }
        methods.push(m);
    }
    methods.sort_by_key(|m| m.selector);
    for (i, m) in methods.iter().enumerate() {
        if m.selector as usize != i {
            return Err(Error::new(
                m.span,
                format!("selectors must be dense from 0 and unique: expected #[selector({i})] here"),
            ));
        }
    }

    // The table, the layouts, the limits.
    let mut entries = Vec::new();
    let mut layouts = Vec::new();
    let mut asserts = Vec::new();
    let mut arms = Vec::new();
    for m in &methods {
        let label = format!("{}::{}", trait_ident, m.ident);
        let camel_name = camel(&m.ident);
        let (arg_types, output, privilege) = (m.args.iter().map(|(_, t)| t).collect::<Vec<_>>(), &m.output, &m.privilege);
        let query = m.query;
        let scalars_in = quote!(0u32 #(+ <#arg_types as #abi::Wire>::SCALARS)*);
        let bytes_in = quote!(0u32 #(+ <#arg_types as #abi::Wire>::BYTES)*);
        entries.push(quote! {
            #abi::Entry {
                name: #camel_name,
                shape: #abi::Shape::new(#scalars_in, #bytes_in, <#output as #abi::Wire>::SCALARS, <#output as #abi::Wire>::BYTES),
                privilege: <#privilege as #abi::Level>::PRIVILEGE,
                query: #query,
            }
        });
        layouts.push(quote! {
            #abi::fingerprint::MethodLayouts {
                inputs: &[#(<#arg_types as #abi::Wire>::LAYOUT),*],
                output: <#output as #abi::Wire>::LAYOUT,
            }
        });
        let too_many_in = format!("{label}: more than 16 input scalars");
        let too_many_out = format!("{label}: more than 16 output scalars");
        let too_big_in = format!("{label}: input struct above 4096 bytes (IOKit's inline limit)");
        let too_big_out = format!("{label}: output struct above 4096 bytes (IOKit's inline limit)");
        let two_structs = format!("{label}: at most one struct argument (IOKit carries one struct each way)");
        let mixed = format!("{label}: a Wire type is scalars or a struct, not both");
        asserts.push(quote_spanned! {m.span=>
            assert!(#scalars_in <= #abi::MAX_SCALARS, #too_many_in);
            assert!(<#output as #abi::Wire>::SCALARS <= #abi::MAX_SCALARS, #too_many_out);
            assert!(#bytes_in <= #abi::MAX_STRUCT_BYTES, #too_big_in);
            assert!(<#output as #abi::Wire>::BYTES <= #abi::MAX_STRUCT_BYTES, #too_big_out);
            assert!(0u32 #(+ (<#arg_types as #abi::Wire>::BYTES > 0) as u32)* <= 1, #two_structs);
            assert!(!(<#output as #abi::Wire>::SCALARS > 0 && <#output as #abi::Wire>::BYTES > 0), #mixed);
            #(assert!(!(<#arg_types as #abi::Wire>::SCALARS > 0 && <#arg_types as #abi::Wire>::BYTES > 0), #mixed);)*
        });

        // One arm of the dispatch: decode, call, encode.
        let selector = m.selector;
        let ident = &m.ident;
        let mut decode = Vec::new();
        let mut offset = quote!(0u32);
        let mut names = Vec::new();
        for (i, (_, ty)) in m.args.iter().enumerate() {
            let v = format_ident!("a{i}");
            decode.push(quote!(let #v = #abi::arg::<#ty>(call, #offset)?;));
            offset = quote!(#offset + <#ty as #abi::Wire>::SCALARS);
            names.push(v);
        }
        let invoke = quote!(<D as #trait_ident>::#ident(driver, #abi::Caller::<#privilege>::__checked(caller) #(, #names)*));
        let invoke = if m.fallible { quote!(#invoke?) } else { invoke };
        arms.push(quote! {
            #selector => {
                #(#decode)*
                let result: #output = #invoke;
                #abi::put(&result, call);
                Ok(())
            }
        });
    }

    // The client (feature `client` of the api crate).
    let client_ident = format_ident!("{}Client", trait_ident);
    let client_doc = format!(
        "A typed client of [`{trait_ident}`], generated by `#[interface]`: one method per selector. \
         [`{client_ident}::open`] checks the kernel's fingerprint first. The service to open is \
         `<dyn {trait_ident}>::SERVICE_CLASS`."
    );
    let mut client_methods = Vec::new();
    let mut example_arms = Vec::new();
    for m in &methods {
        let ident = &m.ident;
        let selector = m.selector;
        let index = m.selector as usize;
        let docs = &m.docs;
        let output = &m.output;
        let params = m.args.iter().map(|(n, t)| quote!(#n: #t));
        let mut puts = Vec::new();
        let mut examples = Vec::new();
        let mut offset = quote!(0u32);
        for (n, t) in &m.args {
            puts.push(quote!(#abi::client::put_arg::<#t>(&#n, #offset, &mut scalars, &mut bytes);));
            examples.push(quote!(#abi::client::put_arg::<#t>(&<#t as #abi::Wire>::example(), #offset, &mut scalars, &mut bytes);));
            offset = quote!(#offset + <#t as #abi::Wire>::SCALARS);
        }
        client_methods.push(quote! {
            #(#docs)*
            pub fn #ident(&self #(, #params)*) -> ::core::result::Result<#output, #abi::client::Error> {
                let entry = &<dyn #trait_ident as #abi::Interface>::TABLE[#index];
                #[allow(unused_mut)]
                let (mut scalars, mut bytes) = #abi::client::inputs(entry);
                #(#puts)*
                #abi::client::call::<#output, T>(&self.transport, #selector, entry, &scalars, &bytes)
            }
        });
        example_arms.push(quote! {
            #selector => {
                let entry = &<dyn #trait_ident as #abi::Interface>::TABLE[#index];
                #[allow(unused_mut)]
                let (mut scalars, mut bytes) = #abi::client::inputs(entry);
                #(#examples)*
                (scalars, bytes)
            }
        });
    }
    // The selectors by name, for tests and tools that speak the raw ABI (the numbers stay facts
    // of the trait: each variant is its method's `#[selector(n)]`).
    let selector_ident = format_ident!("{}Selector", trait_ident);
    let selector_doc = format!(
        "The selectors of [`{trait_ident}`] by method name, generated by `#[interface]` (for tests and \
         tools that call the raw ABI; a client calls [`{client_ident}`]'s methods)."
    );
    let variants: Vec<syn::Ident> = methods.iter().map(|m| format_ident!("{}", camel(&m.ident))).collect();
    let numbers: Vec<u32> = methods.iter().map(|m| m.selector).collect();
    let variant_docs: Vec<String> =
        methods.iter().map(|m| format!("`{}::{}`, `#[selector({})]`.", trait_ident, m.ident, m.selector)).collect();
    let count = methods.len();
    let env_help = "RUSTKEXT_SERVICE_CLASS is set by the api crate's build script: `fn main() { rustkext_build::api_crate() }`";

    Ok(quote! {
        #item

        #[allow(clippy::identity_op)]
        impl #abi::Interface for dyn #trait_ident {
            const NAME: &'static str = #name;
            const TABLE: &'static [#abi::Entry] = &[#(#entries),*];
            const FINGERPRINT: u64 = #abi::fingerprint::of(
                #name,
                <dyn #trait_ident as #abi::Interface>::TABLE,
                &[#(#layouts),*],
            );
        }

        #[allow(unused_comparisons, clippy::absurd_extreme_comparisons, clippy::identity_op)]
        const _: () = { #(#asserts)* };

        #[allow(clippy::identity_op)]
        impl<D: #trait_ident + ?Sized> #abi::Serve<D> for dyn #trait_ident {
            #[inline]
            fn serve(
                driver: &D,
                selector: u32,
                caller: &#abi::CallerInfo<'_>,
                call: &mut #abi::Call<'_>,
            ) -> ::core::result::Result<(), #abi::Refusal> {
                match selector {
                    #(#arms)*
                    _ => Err(#abi::Refusal::BAD_ARGUMENT),
                }
            }
        }

        #[doc = #selector_doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        #vis enum #selector_ident {
            #(#[doc = #variant_docs] #variants = #numbers,)*
        }

        impl #selector_ident {
            /// Every selector, in table order.
            pub const ALL: [#selector_ident; #count] = [#(#selector_ident::#variants),*];

            /// Its entry in the interface's table (shape, privilege, query).
            pub const fn entry(self) -> &'static #abi::Entry {
                &<dyn #trait_ident as #abi::Interface>::TABLE[self as usize]
            }

            /// The selector number `IOConnectCallMethod` takes.
            pub const fn number(self) -> u32 {
                self as u32
            }
        }

        #[cfg(feature = "client")]
        #[doc = #client_doc]
        #vis struct #client_ident<T: #abi::client::Transport> {
            transport: T,
        }

        #[cfg(feature = "client")]
        impl dyn #trait_ident {
            /// The IOKit class of the service a client opens (the kext's `rustkext.toml`).
            pub const SERVICE_CLASS: &'static str = env!("RUSTKEXT_SERVICE_CLASS", #env_help);
            /// The kext's bundle identifier (its `rustkext.toml`).
            pub const BUNDLE_ID: &'static str = env!("RUSTKEXT_BUNDLE_ID", #env_help);
        }

        #[cfg(feature = "client")]
        #[allow(clippy::identity_op)]
        impl<T: #abi::client::Transport> #client_ident<T> {
            /// A client over an open connection, after checking that the kernel serves this
            /// interface (`DESCRIBE`): `Error::AbiMismatch` before any method otherwise.
            pub fn open(transport: T) -> ::core::result::Result<Self, #abi::client::Error> {
                #abi::client::check::<dyn #trait_ident, T>(&transport)?;
                Ok(#client_ident { transport })
            }

            /// A client without the fingerprint check (to test a kernel that must refuse).
            pub fn unchecked(transport: T) -> Self {
                #client_ident { transport }
            }

            /// The connection.
            pub fn transport(&self) -> &T {
                &self.transport
            }

            /// The connection, giving up the client.
            pub fn into_transport(self) -> T {
                self.transport
            }

            #(#client_methods)*
        }

        #[cfg(feature = "client")]
        #[allow(clippy::identity_op)]
        impl #abi::conformance::Examples for dyn #trait_ident {
            fn examples(selector: u32) -> (#abi::client::Vec<u64>, #abi::client::Vec<u8>) {
                match selector {
                    #(#example_arms)*
                    _ => (#abi::client::Vec::new(), #abi::client::Vec::new()),
                }
            }
        }
    })
}
