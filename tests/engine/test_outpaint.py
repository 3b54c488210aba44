import numpy as np
import pytest
from PIL import Image

from ldm_studio.engine.pipelines.outpaint import extend_canvas


def _img(w=40, h=24):
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "RGB")


def test_size_rounded_by_growing_new_area_and_old_kept():
    im = _img()
    c = extend_canvas(im, right=13, top=5, overlap=4, multiple=8)
    assert c.image.size == (56, 32)
    x0, y0, x1, y1 = c.box
    assert (x0, y1 - y0, x1 - x0) == (0, 24, 40)
    assert np.array_equal(np.asarray(c.image)[y0:y1, x0:x1], np.asarray(im))
    m = np.asarray(c.mask)
    assert (m[:y0] == 255).all() and (m[:, x1:] == 255).all()
    assert (m[y0 + 4 :, : x1 - 4] == 0).all()  # old image outside the overlap is not masked
    assert 0 < m[y0 + 1, 10] < 255  # feathered inside the overlap


def test_fills():
    im = _img()
    edge = np.asarray(extend_canvas(im, left=16, fill="edge").image)
    assert np.array_equal(edge[:, 0], np.asarray(im)[:, 0])
    blur = np.asarray(extend_canvas(im, left=16, fill="blur").image)
    assert blur[:, :16].std() < edge[:, :16].std()
    noise = np.asarray(extend_canvas(im, left=16, fill="noise").image)
    assert not np.array_equal(noise[:, 0], noise[:, 1])


@pytest.mark.parametrize("kw", [{"left": -1}, {}, {"right": 100000}, {"left": 8, "fill": "x"}])
def test_bad_values(kw):
    with pytest.raises(ValueError):
        extend_canvas(_img(), **kw)
