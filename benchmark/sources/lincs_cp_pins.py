"""Pinned facts of LINCS Cell Painting batch 2016_04_01_a549_48hr_batch1 (generated from the publisher's git repository).

Read from ``broadinstitute/lincs-cell-painting`` at commit ``061870127481dcd73c29df85ebcfddeac2ed0828``:
the sha256 of every plate-map file under ``metadata/platemaps/2016_04_01_a549_48hr_batch1/`` and the
plates that have profiles (one ``profiles/cell_count/2016_04_01_a549_48hr_batch1/<plate>/`` folder each).
"""

COMMIT = "061870127481dcd73c29df85ebcfddeac2ed0828"

#: plate-map file (relative to the batch's platemaps folder) -> sha256 of its bytes at COMMIT
PLATEMAP_SHA256 = {
    "barcode_platemap.csv": "dffd7395d0b0d92e5a12c04501b6688fc0dd7820261cd818ba12d7cd130cede2",
    "platemap/C-7161-01-LM6-001.txt": "2fae798c97d5ae11294021b02e4baca5801245a7ea59e88a8696ad4c1b412937",
    "platemap/C-7161-01-LM6-002.txt": "d3714ad21aaee3422f4c818cb841bd7d9d5a7809715f9ffc3e743e0721a04243",
    "platemap/C-7161-01-LM6-003.txt": "7bc4bca1022587527e5597248c88881684fbb114fc5aef513892cec5e35cd141",
    "platemap/C-7161-01-LM6-004.txt": "a052fb8790f8010d877ed8547513b9de9caf83b4d1b947ffd75a249a9dcf3ed7",
    "platemap/C-7161-01-LM6-005.txt": "ca2612b761ff6f50119481dcf41e0f4c1c6d92e2beb23ff417e2b0914e8de5ea",
    "platemap/C-7161-01-LM6-006.txt": "0820920421d0d8a141adf73316bd24e4f2d48e681060a2b9142a501d10a5661c",
    "platemap/C-7161-01-LM6-007.txt": "42dbf958ccd7638c8e1d21af531eb5a79e7508902521368eb3525fd371b07ba4",
    "platemap/C-7161-01-LM6-008.txt": "540cd05cc4f175f7033e4e6299b8fd366b9a0f44659d146cfc5064c5d1b3b38a",
    "platemap/C-7161-01-LM6-009.txt": "14f79d8106b88849c63e94e32203f2f2a6c906a896af0fcec52e938549135a16",
    "platemap/C-7161-01-LM6-010.txt": "258b489954dfe4e6b6bcf35426f43980f9d06cee1ed4c8d4e202ebfc6ad68b86",
    "platemap/C-7161-01-LM6-011.txt": "809d6f0779e87ac39401406f196367fd6d9049b48267d38559bc360281f79075",
    "platemap/C-7161-01-LM6-012.txt": "c2287c2a0f6b646bdbf183db4ad6ca9f645942e04a28c3ed39949f847832b50c",
    "platemap/C-7161-01-LM6-013.txt": "6808237c1b46a36260392b8af6032599d151fca109bb8dab410a066af7df74d4",
    "platemap/C-7161-01-LM6-014.txt": "2ccb0754c8266c70fe65fc92490e4cfb5e5ca67d0fbd0a4ba5fe10f37c7e51ad",
    "platemap/C-7161-01-LM6-015.txt": "da110029c33fc9b62f31009a061b7810ffba954058f1f708481168417534584a",
    "platemap/C-7161-01-LM6-016.txt": "0e18b94641584123c82897d6e12f03a2274dd05c252b505e367e548768a5b69d",
    "platemap/C-7161-01-LM6-017.txt": "be5429864904dc9ae58dca0e89e1176f85de2d2d1c5736a9f43b7c9a84b1efef",
    "platemap/C-7161-01-LM6-018.txt": "7581951e3144179df923f2b50e4706771d3bbd1f6c80d5d0d94239363e022cba",
    "platemap/C-7161-01-LM6-019.txt": "123b51a2baf1c413f09ad6764374bc5c931c7104daba6df2257246cf90fd0def",
    "platemap/C-7161-01-LM6-020.txt": "bb8f4d309bd7b7a10c46dd2fc922c5e95102a3836cc0d18c23d5bff34b05405a",
    "platemap/C-7161-01-LM6-021.txt": "acc81ce38a144324accb4c495143817f7f8a06df2051f4dd1e9b484fb4f14fa0",
    "platemap/C-7161-01-LM6-022.txt": "68d93b4ab3e1a4ba46af33fa2dc1fc91f03a3503711c3cde09477ef50c06aab6",
    "platemap/C-7161-01-LM6-023.txt": "81a72dce98f5e06386bbb06cff94f2a19019393460205fc2dc8cfd6e75e8a5a5",
    "platemap/C-7161-01-LM6-024.txt": "2028e1e1515809ba9191497391d64cb32ac0c687efa24c05b33022ad9b85c0b3",
    "platemap/C-7161-01-LM6-025.txt": "a7f74762f4b2b7ed4cfa12274fca96d62d0ed3223dbf43a867b5ea72d5283220",
    "platemap/C-7161-01-LM6-026.txt": "dcc1b6095427475e103473e473962db30fe860008854b38bc33c11591c0d8087",
    "platemap/C-7161-01-LM6-027.txt": "a99b82e4c07f33dc6482bd22356e81eb2ec32649200de4cfd3c800d552085a89",
    "platemap/C-7161-01-LM6-028.txt": "a6eb2bcf121f58a0bb9e9a0c03033259edf7ed723e3b060ff578bb8b86ca6276",
}

#: the 136 profiled plates of the batch (barcode_platemap.csv lists 140; 4 have no profiles)
PROFILED_PLATES = (
    "SQ00014812", "SQ00014813", "SQ00014814", "SQ00014815", "SQ00014816", "SQ00014817", "SQ00014818", "SQ00014819",
    "SQ00014820", "SQ00015041", "SQ00015042", "SQ00015043", "SQ00015044", "SQ00015045", "SQ00015046", "SQ00015047",
    "SQ00015048", "SQ00015049", "SQ00015050", "SQ00015051", "SQ00015052", "SQ00015053", "SQ00015054", "SQ00015055",
    "SQ00015056", "SQ00015057", "SQ00015058", "SQ00015059", "SQ00015096", "SQ00015097", "SQ00015098", "SQ00015099",
    "SQ00015100", "SQ00015101", "SQ00015102", "SQ00015103", "SQ00015105", "SQ00015106", "SQ00015107", "SQ00015108",
    "SQ00015109", "SQ00015110", "SQ00015111", "SQ00015112", "SQ00015116", "SQ00015117", "SQ00015118", "SQ00015119",
    "SQ00015120", "SQ00015121", "SQ00015122", "SQ00015123", "SQ00015124", "SQ00015125", "SQ00015126", "SQ00015127",
    "SQ00015128", "SQ00015129", "SQ00015130", "SQ00015131", "SQ00015132", "SQ00015133", "SQ00015134", "SQ00015135",
    "SQ00015136", "SQ00015137", "SQ00015138", "SQ00015139", "SQ00015140", "SQ00015141", "SQ00015142", "SQ00015143",
    "SQ00015144", "SQ00015145", "SQ00015146", "SQ00015147", "SQ00015148", "SQ00015149", "SQ00015150", "SQ00015151",
    "SQ00015152", "SQ00015153", "SQ00015154", "SQ00015155", "SQ00015156", "SQ00015157", "SQ00015158", "SQ00015159",
    "SQ00015160", "SQ00015162", "SQ00015163", "SQ00015164", "SQ00015165", "SQ00015166", "SQ00015167", "SQ00015168",
    "SQ00015169", "SQ00015170", "SQ00015171", "SQ00015172", "SQ00015173", "SQ00015194", "SQ00015195", "SQ00015196",
    "SQ00015197", "SQ00015198", "SQ00015199", "SQ00015200", "SQ00015201", "SQ00015202", "SQ00015203", "SQ00015204",
    "SQ00015205", "SQ00015206", "SQ00015207", "SQ00015208", "SQ00015209", "SQ00015210", "SQ00015211", "SQ00015212",
    "SQ00015214", "SQ00015215", "SQ00015216", "SQ00015217", "SQ00015218", "SQ00015219", "SQ00015220", "SQ00015221",
    "SQ00015222", "SQ00015223", "SQ00015224", "SQ00015229", "SQ00015230", "SQ00015231", "SQ00015232", "SQ00015233",
)

#: The profiles' checksums and the fingerprint of lincs-cp-v1 from a maintainer's real fetch
#: (``pheno-bench sources pin lincs-cp``, :func:`pheno_bench.pins.pin_source`). Empty in this
#: version (no network on the development machines): until then each profile is checked against
#: the Cell Painting Gallery's size and MD5 ETag at its first fetch (recorded at first use, with a
#: warning, where the ETag is not an MD5). Schema as ``rxrx3_core_pins.RELEASE`` (``revision`` is
#: the plate maps' git commit, :data:`COMMIT`).
# >>> recorded by `pheno-bench sources pin` (pheno_bench.pins): do not edit by hand
RELEASE: dict = {}
# <<< end of the recorded release
