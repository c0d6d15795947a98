"""The choices and bounds the options are checked against, in one place and with no imports, so that
the command line (`interp --help`, parse-time errors: click only) and the library (blend, render,
refine, write, pipeline, which check what Python callers pass) read the same lists and numbers.
"""

# --- choices ---------------------------------------------------------------------------------------

NOISE_MODES = ("const", "random", "none")  # per-layer noise: fixed per seed, fresh per frame, or none
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # rendering precision
EASINGS = ("linear", "smooth", "cosine", "cubic")  # timing of a transition (blend.ease)
INTERPS = ("lerp", "slerp", "spline")  # path between codes (blend)
REFINE_LOSSES = ("l2", "lap", "l2+lap")  # what --refine minimises (refine.py)

# --- bounds ----------------------------------------------------------------------------------------

TRUNCATION = (0.0, 2.0)
FPS = (0.1, 240)
# The NTSC rates are N * 1000/1001 for these N (23.976..., 29.97..., 59.94...): what `--fps 23.976`, `23.98`,
# `29.97` or `59.94` name, as video people type them (`frame_writer.frame_rate` holds the rule).
NTSC_BASES = (24, 30, 48, 60, 120, 240)
QUALITY = (0, 10)  # MP4 and HTML quality, 10 best
SIZE = (8, 4096)  # --size of written frames, px
# The most pixels an input photo may have, read from its header before any pixel is decoded (a small file that
# claims a huge size is refused at once). Every camera sold takes fewer: 45-61 MP full frame, 102 MP medium
# format (Fujifilm GFX100, 11648x8736), 151 MP the largest back (Phase One IQ4, 14204x10652). Peak memory grows
# about 14 bytes a pixel (a 100 MP photo aligned, morphed and pasted: 1.8 GB; 150 MP: 2.5 GB; benchmarks/README.md,
# "Camera-sized photos in, big outputs out"). Below Pillow's own refusal (twice Image.MAX_IMAGE_PIXELS, 179 MP).
PHOTO_MAX_PIXELS = 160_000_000
# What each output can hold. H.264's largest level (6.2, ITU-T H.264 table A-1) takes frames of at most 139,264
# macroblocks of 16x16 px (8192x4352, 35.7 MP) and 16,711,680 macroblocks a second; libx264 refuses a side over
# 16,384 px. Past the level, libx264 still writes the file but labels it 6.2, which hardware decoders refuse.
H264_MAX_FRAME_MACROBLOCKS = 139_264
H264_MAX_MACROBLOCKS_PER_SECOND = 16_711_680
H264_MAX_SIDE = 16_384
GIF_MAX_SIDE = 65_535  # its sizes are 16-bit
JPEG_MAX_SIDE = 65_500  # libjpeg's JPEG_MAX_DIMENSION: the frames of an .html page are JPEGs
ALIGN_SIZE = (16, 4096)  # `interp align --size`, px
TUNE_DEFAULT_STEPS = 50  # bare --tune (interp_cli.tune.DEFAULT_STEPS)
# The most --tune steps: 200 times a bare --tune's, 50 times the most a warning offers (likeness.MORE_TUNING).
# The demo model's ends stop gaining long before (benchmarks/README.md), and at 1024 px on a CPU this is
# already about 16 hours; a mistyped --tune 50000 is refused at once instead of running for days.
TUNE_MAX_STEPS = 10_000
# The most --refine steps, for the same reason: a 1024 px step costs several CPU seconds, so this is already
# most of a day per photo, and `--refine 99999999999999999999` used to start, its bar estimating 7e21 s.
REFINE_MAX_STEPS = 10_000

# The most frames one morph may have: 9 hours at 30 fps. The frame plan is a list built up front
# (~180 MB and some seconds at this size): a mistyped --steps 30000000 used to take 3 GB and a minute
# before the first frame; larger ones failed inside numpy.
MAX_FRAMES = 1_000_000
# Why a transition's steps are at least 2, said wherever steps=1 is refused (--steps and the keyword alike).
STEPS_WHY = ": a transition shows both of its ends"

# GIF delays are whole centiseconds and browsers slow delays under 2 cs down to 10 cs, so a GIF plays
# at most 50 fps: --fps above it is written at this rate.
GIF_MIN_DELAY_CS = 2
GIF_MAX_FPS = 100 / GIF_MIN_DELAY_CS

# What torch.Generator().manual_seed takes (--seed feeds only generators of interp's own:
# --noise random, --refine, --tune): one beyond raised "Overflow when unpacking long long" after the
# model had loaded.
SEED_MIN, SEED_MAX = -(2 ** 63), 2 ** 64 - 1

# The largest value a `.npy` code may hold. W codes are what a mapping network (or e4e, which adds
# latent_avg to offsets) puts out, and they stay within about +-10: the demo model's mapping outputs
# within -2.8..7.6 (5,000 samples), its encoded codes within +-3.6 (--refine 50 included). Drawn at 3x
# an encoded code, the demo face is already a blot; 1e30 drew noise with exit 0. 100 times the W range
# still leaves room for any edit a person means to make, so only codes that are no W code are refused.
CODE_MAX_ABS = 1000.0
