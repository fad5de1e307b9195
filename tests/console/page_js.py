"""JavaScript the browser tests (and bench/console.py) evaluate in the console's page."""

RED_PIXELS = """() => {
    const c = document.querySelector('#map canvas.hexlake-cells');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i] - d[i + 1] > 60 && d[i] - d[i + 2] > 60) n++;
    return n;
}"""

# n hexagons (H3 r10-sized) around the map's centre through the console's own drawing code; ms to draw.
DRAW_CELLS = """(n) => {
    const map = window.__hexlake.map, c = map.getCenter(), feats = [], side = Math.ceil(Math.sqrt(n));
    for (let i = 0; i < n; i++) {
        const x = c.lng + ((i % side) - side / 2) * 0.002, y = c.lat + (Math.floor(i / side) - side / 2) * 0.00175;
        const ring = [];
        for (let k = 0; k <= 6; k++) {
            const a = Math.PI / 3 * k;
            ring.push([x + 0.001 * Math.cos(a), y + 0.001 * Math.sin(a)]);
        }
        feats.push({type: 'Feature', properties: {events: i % 97}, geometry: {type: 'Polygon', coordinates: [ring]}});
    }
    const group = L.layerGroup().addTo(map);
    const t0 = performance.now();
    const layer = window.__hexlake.drawCells(group, feats);
    const ms = performance.now() - t0;
    group.remove();
    return {ms, drawn: layer.drawn};
}"""
