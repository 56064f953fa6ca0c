//! Resolution scenarios against an in-memory index (the real seam: [`Provider`]).

mod fixture;

use grocker_resolver::{REQUESTED, ResolveError, resolve};

use fixture::{Index, name, pins, report, request, solve};

#[test]
fn simple_chain_takes_the_newest_versions() {
    let mut index = Index::default();
    index.add("app", "1.0", &["lib>=1"]);
    index.add("app", "2.0", &["lib>=2"]);
    index.add("lib", "1.0", &[]);
    index.add("lib", "2.0", &["base"]);
    index.add("lib", "2.5", &["base<3"]);
    index.add("base", "2.9", &[]);
    index.add("base", "3.0", &[]);
    let resolution = solve(&index, &["app"], &[]);
    assert_eq!(pins(&resolution), ["app==2.0", "base==2.9", "lib==2.5"]);
    let required_by = |n: &str| resolution.packages[&name(n)].required_by.clone();
    assert_eq!(
        required_by("app").into_iter().collect::<Vec<_>>(),
        [REQUESTED]
    );
    assert_eq!(required_by("lib").into_iter().collect::<Vec<_>>(), ["app"]);
    assert_eq!(required_by("base").into_iter().collect::<Vec<_>>(), ["lib"]);
    let prefetched = index.prefetched.borrow();
    assert!(
        ["app", "lib", "base"]
            .iter()
            .all(|n| prefetched.contains(&n.to_string()))
    );
}

#[test]
fn diamond_backtracks_to_a_compatible_pair() {
    let mut index = Index::default();
    index.add("top", "1.0", &["left", "right"]);
    index.add("left", "1.0", &["shared>=1,<2"]);
    index.add("left", "2.0", &["shared>=2"]);
    index.add("right", "1.0", &["shared<2"]);
    index.add("shared", "1.0", &[]);
    index.add("shared", "1.5", &[]);
    index.add("shared", "2.0", &[]);
    let resolution = solve(&index, &["top"], &[]);
    assert_eq!(
        pins(&resolution),
        ["left==1.0", "right==1.0", "shared==1.5", "top==1.0"]
    );
    let shared = &resolution.packages[&name("shared")].required_by;
    assert_eq!(shared.iter().collect::<Vec<_>>(), ["left", "right"]);
}

fn httpie_index() -> Index {
    let mut index = Index::default();
    index
        .add(
            "httpie",
            "3.2.4",
            &[
                "requests[socks]>=2.22.0 ; extra == 'socks'",
                "requests>=2.22.0",
                "colorama>=0.2.4 ; sys_platform == 'win32'",
                "pysocks ; extra == 'socks' and python_version < '3'",
            ],
        )
        .extras(&["socks", "test"]);
    index
        .add("httpie", "3.3.0", &["requests>=2.22.0"])
        .extras(&["socks"]);
    index
        .add(
            "requests",
            "2.31.0",
            &["idna<4,>=2.5", "PySocks!=1.5.7,>=1.5.6 ; extra == 'socks'"],
        )
        .extras(&["socks", "use-chardet-on-py3"]);
    index.add("idna", "3.6", &[]);
    index.add("pysocks", "1.7.1", &[]);
    index.add("pysocks", "1.5.7", &[]);
    index.add("colorama", "0.4.6", &[]);
    index
}

#[test]
fn extras_switch_on_their_requirements_and_merge_into_one_version() {
    let index = httpie_index();
    let resolution = solve(&index, &["httpie[socks]==3.2.4"], &[]);
    assert_eq!(
        pins(&resolution),
        [
            "httpie[socks]==3.2.4",
            "idna==3.6",
            "pysocks==1.7.1",
            "requests[socks]==2.31.0"
        ]
    );
    let pysocks = &resolution.packages[&name("pysocks")].required_by;
    assert_eq!(pysocks.iter().collect::<Vec<_>>(), ["requests[socks]"]);
    let requests = &resolution.packages[&name("requests")].required_by;
    assert_eq!(
        requests.iter().collect::<Vec<_>>(),
        ["httpie", "httpie[socks]"]
    );

    // Without the extra, nothing it guards comes in.
    let plain = solve(&index, &["httpie==3.2.4"], &[]);
    assert_eq!(
        pins(&plain),
        ["httpie==3.2.4", "idna==3.6", "requests==2.31.0"]
    );
}

#[test]
fn extra_and_plain_requirement_of_one_package_agree_on_a_version() {
    let mut index = httpie_index();
    index.add("plugin", "1.0", &["httpie<3.3"]);
    let resolution = solve(&index, &["httpie[socks]", "plugin"], &[]);
    assert_eq!(
        resolution.packages[&name("httpie")].version.to_string(),
        "3.2.4"
    );
    assert_eq!(pins(&resolution)[0], "httpie[socks]==3.2.4");
}

#[test]
fn an_extra_may_require_other_extras_of_its_own_package() {
    let mut index = Index::default();
    index
        .add(
            "suite",
            "1.0",
            &[
                "suite[fast,yaml] ; extra == 'all'",
                "ujson ; extra == 'fast'",
                "pyyaml ; extra == 'yaml'",
            ],
        )
        .extras(&["all", "fast", "yaml"]);
    index.add("ujson", "5.0", &[]);
    index.add("pyyaml", "6.0", &[]);
    let resolution = solve(&index, &["suite[all]"], &[]);
    assert_eq!(
        pins(&resolution),
        ["pyyaml==6.0", "suite[all,fast,yaml]==1.0", "ujson==5.0"]
    );
    let suite = &resolution.packages[&name("suite")].required_by;
    assert_eq!(suite.iter().collect::<Vec<_>>(), [REQUESTED]);
}

#[test]
fn an_extra_the_release_does_not_provide_is_ignored() {
    let index = httpie_index();
    let resolution = solve(&index, &["httpie[nope]==3.2.4"], &[]);
    assert_eq!(
        pins(&resolution),
        ["httpie==3.2.4", "idna==3.6", "requests==2.31.0"]
    );
}

#[test]
fn markers_follow_python_version_and_platform() {
    let mut index = Index::default();
    index.add(
        "app",
        "1.0",
        &[
            "colorama ; sys_platform == 'win32'",
            "tomli ; python_version < '3.11'",
            "typing-extensions ; python_version >= '3.8'",
            "uvloop ; platform_system == 'Linux' and platform_machine == 'x86_64'",
        ],
    );
    for package in ["colorama", "tomli", "typing-extensions", "uvloop"] {
        index.add(package, "1.0", &[]);
    }
    let resolution = solve(&index, &["app", "tomli ; python_version < '3.11'"], &[]);
    assert_eq!(
        pins(&resolution),
        ["app==1.0", "typing-extensions==1.0", "uvloop==1.0"]
    );
}

#[test]
fn conflicting_pins_name_both_packages_and_versions() {
    let mut index = Index::default();
    index.add("alpha", "1.0", &["shared==1.0"]);
    index.add("beta", "2.0", &["shared==2.0"]);
    index.add("shared", "1.0", &[]);
    index.add("shared", "2.0", &[]);
    assert_eq!(
        report(&index, &["alpha==1.0", "beta==2.0"], &[]),
        "Because alpha==1.0 depends on shared==1.0 and beta==2.0 depends on shared==2.0, \
         alpha==1.0, beta==2.0 are incompatible.\n\
         And because you require alpha==1.0 and you require beta==2.0, version solving failed."
    );
}

#[test]
fn conflict_through_an_extra_reads_with_brackets() {
    let index = httpie_index();
    assert_eq!(
        report(&index, &["httpie[socks]==3.2.4", "pysocks==1.5.7"], &[]),
        "Because requests[socks]>=2.22.0 depends on pysocks>=1.5.6,!=1.5.7 \
         and httpie[socks]==3.2.4 depends on requests[socks]>=2.22.0, \
         httpie[socks]==3.2.4 depends on pysocks>=1.5.6,!=1.5.7.\n\
         And because you require pysocks==1.5.7 and you require httpie[socks]==3.2.4, \
         version solving failed."
    );
}

#[test]
fn constraints_narrow_but_never_add_packages() {
    let mut index = Index::default();
    index.add("app", "1.0", &["lib"]);
    for version in ["1.0", "1.5", "2.0"] {
        index.add("lib", version, &[]);
    }
    index.add("unrelated", "9.0", &[]);
    let resolution = solve(&index, &["app"], &["lib<2", "unrelated==9.0", "ghost>=1"]);
    assert_eq!(pins(&resolution), ["app==1.0", "lib==1.5"]);
}

#[test]
fn a_constraint_that_excludes_every_candidate_is_explained() {
    let mut index = Index::default();
    index.add("httpie", "3.2.4", &["requests>=2.22.0"]);
    index.add("requests", "1.2.3", &[]);
    index.add("requests", "2.31.0", &[]);
    assert_eq!(
        report(&index, &["httpie==3.2.4"], &["requests<2.0"]),
        "Because there is no version of requests>=2.22.0 allowed by the constraint requests<2.0 \
         and httpie==3.2.4 depends on requests>=2.22.0, httpie==3.2.4 cannot be used.\n\
         And because you require httpie==3.2.4, version solving failed."
    );
}

#[test]
fn pep440_operators_pick_the_right_release() {
    let mut index = Index::default();
    for version in [
        "1.3.9", "1.4.0", "1.4.2", "1.4.9", "1.5.0", "2.0.0", "2.1.0",
    ] {
        index.add("lib", version, &[]);
    }
    let pick = |spec: &str| pins(&solve(&index, &[spec], &[]))[0].clone();
    assert_eq!(pick("lib~=1.4.2"), "lib==1.4.9");
    assert_eq!(pick("lib~=1.4"), "lib==1.5.0");
    assert_eq!(pick("lib==1.4.*"), "lib==1.4.9");
    assert_eq!(pick("lib!=2.*"), "lib==1.5.0");
    assert_eq!(pick("lib!=2.1.0"), "lib==2.0.0");
    assert_eq!(pick("lib<1.5"), "lib==1.4.9");
    assert_eq!(pick("lib<=1.5"), "lib==1.5.0");
    assert_eq!(pick("lib>1.4.2,<2"), "lib==1.5.0");
    assert_eq!(pick("lib===1.4.0"), "lib==1.4.0");
}

#[test]
fn prereleases_only_when_named_or_nothing_else_fits() {
    let mut index = Index::default();
    for version in ["1.0", "2.0b1", "2.0rc1"] {
        index.add("lib", version, &[]);
    }
    index.add("beta-only", "0.1a1", &[]);
    index.add("beta-only", "0.1a2", &[]);
    let pick = |spec: &str| pins(&solve(&index, &[spec], &[]))[0].clone();
    assert_eq!(pick("lib"), "lib==1.0");
    assert_eq!(pick("lib>=2.0b1"), "lib==2.0rc1");
    assert_eq!(pick("lib>=1.5"), "lib==2.0rc1");
    assert_eq!(pick("lib<2.0"), "lib==1.0");
    assert_eq!(pick("beta-only"), "beta-only==0.1a2");
}

#[test]
fn local_versions_match_their_public_version() {
    let mut index = Index::default();
    index.add("torch", "2.1.0+cpu", &[]);
    index.add("torch", "2.1.0.post1", &[]);
    index.add("torch", "2.0.0", &[]);
    let pick = |spec: &str| pins(&solve(&index, &[spec], &[]))[0].clone();
    assert_eq!(pick("torch==2.1.0"), "torch==2.1.0+cpu");
    assert_eq!(pick("torch<=2.1.0"), "torch==2.1.0+cpu");
    assert_eq!(pick("torch!=2.1.0,<2.1.0.post1"), "torch==2.0.0");
    assert_eq!(pick("torch>=2.1.0"), "torch==2.1.0.post1");
    // PEP 440: `>V` allows neither post-releases nor local versions of V.
    let report = report(&index, &["torch>2.1.0"], &[]);
    assert!(
        report.contains("there is no version of torch>2.1.0"),
        "{report}"
    );
    assert_eq!(pick("torch<2.1.0"), "torch==2.0.0");
}

#[test]
fn requires_python_skips_releases_for_newer_pythons() {
    let mut index = Index::default();
    index.add("lib", "1.0", &[]).python(">=3.8");
    index.add("lib", "2.0", &[]).python(">=3.12");
    let resolution = solve(&index, &["lib"], &[]);
    assert_eq!(pins(&resolution), ["lib==1.0"]);

    assert_eq!(
        report(&index, &["lib>=2"], &[]),
        "Because lib>=2.0 requires Python >=3.12 but the target has 3.11.2 \
         and you require lib>=2, version solving failed."
    );
}

#[test]
fn yanked_releases_are_used_only_when_pinned() {
    let mut index = Index::default();
    index.add("lib", "1.0", &[]);
    index.add("lib", "1.1", &[]).yanked();
    assert_eq!(pins(&solve(&index, &["lib"], &[])), ["lib==1.0"]);
    assert_eq!(pins(&solve(&index, &["lib==1.1"], &[])), ["lib==1.1"]);
    assert_eq!(pins(&solve(&index, &["lib"], &["lib==1.1"])), ["lib==1.1"]);
}

#[test]
fn unknown_packages_are_clear_errors() {
    let mut index = Index::default();
    index.missing.push("nope".to_string());
    index.add("app", "1.0", &["ghost>=1"]);
    match resolve(&request(&["nope"], &[]), &index) {
        Err(error @ ResolveError::Provider(_)) => assert_eq!(
            error.to_string(),
            "package `nope` not found on http://index.test/simple/"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        report(&index, &["app"], &[]),
        "Because no installable release of ghost was found and app==1.0 depends on ghost>=1, \
         app==1.0 cannot be used.\n\
         And because you require app, version solving failed."
    );
    assert_eq!(
        report(&index, &["app", "lib>=3"], &[]),
        "Because no installable release of lib was found and you require lib>=3, \
         version solving failed."
    );
}

#[test]
fn direct_urls_are_refused() {
    let index = Index::default();
    let error = resolve(
        &request(&["lib @ https://example.org/lib-1.0-py3-none-any.whl"], &[]),
        &index,
    )
    .unwrap_err();
    assert!(
        matches!(error, ResolveError::UnsupportedRequirement { .. }),
        "{error}"
    );
}

#[test]
fn same_result_whatever_the_input_order() {
    // Several valid solutions exist: only the resolver's ordering picks one.
    let mut forward = Index::default();
    forward.add("a", "1.0", &["c<2"]);
    forward.add("a", "2.0", &["c>=2"]);
    forward.add("b", "1.0", &["c>=2"]);
    forward.add("b", "2.0", &["c<2"]);
    for version in ["1.0", "2.0"] {
        forward.add("c", version, &[]);
        forward.add("d", version, &["a", "b"]);
    }
    let mut backward = Index {
        packages: forward.packages.clone(),
        reversed: true,
        ..Index::default()
    };
    backward.missing.clear();
    let requirements = ["d", "b", "a", "c"];
    let expected = pins(&solve(&forward, &requirements, &[]));
    for run in 0..20 {
        let mut shuffled = requirements.to_vec();
        shuffled.rotate_left(run % requirements.len());
        if run % 2 == 1 {
            shuffled.reverse();
        }
        let index = if run % 3 == 0 { &forward } else { &backward };
        assert_eq!(
            pins(&solve(index, &shuffled, &[])),
            expected,
            "run {run}: {shuffled:?}"
        );
    }
    let conflict = |order: &[&str]| report(&forward, order, &[]);
    let first = conflict(&["a==2.0", "b==2.0"]);
    for _ in 0..20 {
        assert_eq!(conflict(&["b==2.0", "a==2.0"]), first);
    }
}
